package inventory

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
)

// Provenance is where a binding came from.
type Provenance string

// Provenances, as Detect checks them.
const (
	// ProvenanceRolegate is a grant rolegate made for an approved
	// AccessRequest; the inventory leaves these out unless asked.
	ProvenanceRolegate Provenance = "rolegate"
	// ProvenanceBootstrap is a default binding of the API server
	// (kubernetes.io/bootstrapping=rbac-defaults, or a system: name).
	ProvenanceBootstrap Provenance = "bootstrap"
	// ProvenanceArgoCD is tracked by an Argo CD Application.
	ProvenanceArgoCD Provenance = "argocd"
	// ProvenanceFlux is applied by Flux's kustomize or helm controller.
	ProvenanceFlux Provenance = "flux"
	// ProvenanceHelm is part of a Helm release.
	ProvenanceHelm Provenance = "helm"
	// ProvenanceManual is anything else: kubectl, a script, an operator.
	ProvenanceManual Provenance = "manual"
)

// Labels, annotations and field managers that tell provenance apart.
const (
	bootstrapLabel         = "kubernetes.io/bootstrapping"
	bootstrapValue         = "rbac-defaults"
	helmManagedByValue     = "Helm"
	helmAnnotationPrefix   = "meta.helm.sh/"
	argoPrefix             = "argocd.argoproj.io/"
	argoInstanceLabel      = "app.kubernetes.io/instance"
	fluxKustomizePrefix    = "kustomize.toolkit.fluxcd.io/"
	fluxHelmPrefix         = "helm.toolkit.fluxcd.io/"
	systemNamePrefix       = "system:"
	argoFieldManagerPrefix = "argocd"
)

// Detect tells where an object came from, in this order: rolegate's
// managed-by label; the bootstrap label or a system: name; Argo CD
// (argocd.argoproj.io/ labels or annotations); Flux
// (kustomize.toolkit.fluxcd.io/ or helm.toolkit.fluxcd.io/ labels or
// annotations); Helm (app.kubernetes.io/managed-by: Helm or meta.helm.sh/
// annotations); Argo CD's default tracking label app.kubernetes.io/instance
// (checked after Helm, which sets it too); then the managedFields managers
// (argocd-*, kustomize-controller, helm-controller, helm); else manual.
// Argo CD comes before Flux and Helm because it renders Helm charts, whose
// labels say Helm.
func Detect(m *metav1.ObjectMeta) Provenance {
	if m.Labels[accessv1alpha1.ManagedByLabel] == accessv1alpha1.ManagedByValue {
		return ProvenanceRolegate
	}
	if m.Labels[bootstrapLabel] == bootstrapValue || strings.HasPrefix(m.Name, systemNamePrefix) {
		return ProvenanceBootstrap
	}
	switch {
	case hasKeyPrefix(m, argoPrefix):
		return ProvenanceArgoCD
	case hasKeyPrefix(m, fluxKustomizePrefix) || hasKeyPrefix(m, fluxHelmPrefix):
		return ProvenanceFlux
	case m.Labels[accessv1alpha1.ManagedByLabel] == helmManagedByValue || hasKeyPrefix(m, helmAnnotationPrefix):
		return ProvenanceHelm
	case m.Labels[argoInstanceLabel] != "":
		return ProvenanceArgoCD
	}
	for _, f := range m.ManagedFields {
		switch mgr := f.Manager; {
		case strings.HasPrefix(mgr, argoFieldManagerPrefix):
			return ProvenanceArgoCD
		case mgr == "kustomize-controller" || mgr == "helm-controller":
			return ProvenanceFlux
		case mgr == "helm":
			return ProvenanceHelm
		}
	}
	return ProvenanceManual
}

// hasKeyPrefix reports whether a label or annotation key starts with prefix.
func hasKeyPrefix(m *metav1.ObjectMeta, prefix string) bool {
	for k := range m.Labels {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	for k := range m.Annotations {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
