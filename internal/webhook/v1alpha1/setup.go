package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"rolegate.dev/rolegate/internal/metrics"
)

// Register serves the admission webhooks on the server. reader is the
// manager's cache (indexed decisions, Roles and ClusterRoles, policies and
// namespaces); apiReader reads around it.
func Register(server webhook.Server, scheme *runtime.Scheme, reader, apiReader client.Reader, clk clock.PassiveClock, m *metrics.Recorder) {
	dec := admission.NewDecoder(scheme)
	rw := &RequestWebhook{Reader: reader, APIReader: apiReader, Decoder: dec, Clock: clk, Metrics: m}
	dw := &DecisionWebhook{Reader: reader, APIReader: apiReader, Decoder: dec, Clock: clk}
	server.Register(MutateRequestPath, &webhook.Admission{Handler: Stamper{rw}})
	server.Register(ValidateRequestPath, &webhook.Admission{Handler: Validator{rw}})
	server.Register(MutateDecisionPath, &webhook.Admission{Handler: DecisionStamper{dw}})
	server.Register(ValidateDecisionPath, &webhook.Admission{Handler: DecisionValidator{dw}})
	server.Register(ValidatePolicyPath, &webhook.Admission{Handler: PolicyValidator{Reader: reader, Decoder: dec}})
}
