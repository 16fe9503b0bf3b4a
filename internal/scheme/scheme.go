// Package scheme holds the runtime scheme of every kind rolegate reads or
// writes, apart from the manager so that the CLI does not link it.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Scheme holds client-go's kinds and the rolegate API.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	utilruntime.Must(accessv1alpha1.AddToScheme(Scheme))
}
