{{/*
The chart name, for app.kubernetes.io/name.
*/}}
{{- define "rolegate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name. Release "rolegate" gives "rolegate", so the
default install has config/default's names (rolegate-controller-manager, ...).
It is cut to 28 characters so that the longest Service name,
<fullname>-controller-manager-metrics-service, fits in 63.
*/}}
{{- define "rolegate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 28 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 28 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rolegate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object. Not app.kubernetes.io/managed-by=rolegate: that value
marks the RoleBindings the operator manages (see templates/hardening.yaml).
*/}}
{{- define "rolegate.labels" -}}
helm.sh/chart: {{ include "rolegate.chart" . }}
{{ include "rolegate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rolegate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rolegate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The manager's pods, selected by the Deployment and both Services. control-plane
is kept from config/default so that `-l control-plane=controller-manager`
in the runbooks still finds them.
*/}}
{{- define "rolegate.managerSelectorLabels" -}}
{{ include "rolegate.selectorLabels" . }}
control-plane: controller-manager
{{- end }}

{{/* Names of the objects the manager's flags refer to. */}}
{{- define "rolegate.managerName" -}}
{{ include "rolegate.fullname" . }}-controller-manager
{{- end }}

{{- define "rolegate.serviceAccountName" -}}
{{ include "rolegate.fullname" . }}-controller-manager
{{- end }}

{{- define "rolegate.webhookServiceName" -}}
{{ include "rolegate.fullname" . }}-webhook-service
{{- end }}

{{- define "rolegate.webhookSecretName" -}}
{{ include "rolegate.fullname" . }}-webhook-server-cert
{{- end }}

{{- define "rolegate.mutatingWebhookName" -}}
{{ include "rolegate.fullname" . }}-mutating-webhook-configuration
{{- end }}

{{- define "rolegate.validatingWebhookName" -}}
{{ include "rolegate.fullname" . }}-validating-webhook-configuration
{{- end }}

{{- define "rolegate.certificateName" -}}
{{ include "rolegate.fullname" . }}-serving-cert
{{- end }}

{{- define "rolegate.issuerName" -}}
{{ include "rolegate.fullname" . }}-selfsigned-issuer
{{- end }}

{{- define "rolegate.metricsServiceName" -}}
{{ include "rolegate.fullname" . }}-controller-manager-metrics-service
{{- end }}

{{/*
The username the API server gives the manager's ServiceAccount, which the
hardening policies compare request.userInfo.username with.
*/}}
{{- define "rolegate.operatorUsername" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "rolegate.serviceAccountName" . }}
{{- end }}

{{/* "true" when the webhook certificate comes from cert-manager. */}}
{{- define "rolegate.certManager" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certificate.mode "cert-manager") }}true{{ end }}
{{- end }}

{{/* "true" when the manager rotates its own webhook certificate. */}}
{{- define "rolegate.certRotation" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certificate.mode "rotate") }}true{{ end }}
{{- end }}

{{/* "true" when the manager runs with --leader-elect. */}}
{{- define "rolegate.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* "true" when restrictBind narrows the operator's bind permission. */}}
{{- define "rolegate.restrictBind" -}}
{{- if or .Values.restrictBind.clusterRoles .Values.restrictBind.roles }}true{{ end }}
{{- end }}

{{/* Fails the render on values the templates cannot honour. */}}
{{- define "rolegate.validate" -}}
{{- if not (has .Values.webhook.certificate.mode (list "rotate" "cert-manager")) }}
{{- fail (printf "webhook.certificate.mode must be \"rotate\" or \"cert-manager\", not %q" .Values.webhook.certificate.mode) }}
{{- end }}
{{- if and .Values.monitoring.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "monitoring.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- end }}
