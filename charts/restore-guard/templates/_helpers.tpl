{{/* Labels on every object, beside the app.kubernetes.io/name each object carries as in manifests/base. */}}
{{- define "restore-guard.labels" -}}
app.kubernetes.io/part-of: restore-guard
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The caBundle of a webhook entry: none with cert-manager (cainjector fills it), else .Values.caBundle, which is
required: without it the API server cannot verify restore-guard and every restore is denied.
*/}}
{{- define "restore-guard.caBundle" -}}
{{- if not .Values.certManager.enabled -}}
{{- if not .Values.caBundle -}}
{{- fail "certManager.enabled is false: set caBundle to the base64 PEM of the CA that signed Secret restore-guard-tls" -}}
{{- end -}}
caBundle: {{ .Values.caBundle }}
{{- end -}}
{{- end -}}

{{/* Fails unless the policy value lists the preset of an enabled source (README "Restore sources"). */}}
{{- define "restore-guard.requirePreset" -}}
{{- $found := false -}}
{{- range (fromYaml .root.Values.policy).sources -}}
{{- if and (kindIs "map" .) (eq (toString .preset) $.preset) -}}{{- $found = true -}}{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "sources.%s is on: list `- preset: %s` in the sources of the policy value too (README \"Restore sources\": enable both, or neither)" .flag .preset) -}}
{{- end -}}
{{- end -}}

{{/*
Checks the mtls values (enabled): exactly one CA source, and at least one pinned name. A client CA alone admits
every certificate it signed, and a cluster CA signs every user's and node's (README "Threat model"); with 8443
open to all addresses, an unpinned CA would let any of them forge AdmissionReviews.
*/}}
{{- define "restore-guard.mtlsChecked" -}}
{{- $m := .Values.mtls -}}
{{- if and $m.clientCA $m.existingConfigMap -}}
{{- fail "mtls: set clientCA or existingConfigMap, not both" -}}
{{- end -}}
{{- if not (or $m.clientCA $m.existingConfigMap) -}}
{{- fail "mtls.enabled is true: set mtls.clientCA (PEM of the CAs that sign kube-apiserver's webhook client certificate) or mtls.existingConfigMap (a ConfigMap with key ca.crt)" -}}
{{- end -}}
{{- if and $m.clientCA (not (contains "-----BEGIN CERTIFICATE-----" $m.clientCA)) -}}
{{- fail "mtls.clientCA holds no PEM certificate (-----BEGIN CERTIFICATE-----)" -}}
{{- end -}}
{{- if not $m.allowedNames -}}
{{- fail "mtls.allowedNames is empty: name kube-apiserver's webhook client certificate (its CN or a DNS name); the client CA alone admits every certificate it signed (README \"Threat model\")" -}}
{{- end -}}
{{- range $m.allowedNames -}}
{{- if or (not (kindIs "string" .)) (not (trim .)) (contains "," .) -}}
{{- fail (printf "mtls.allowedNames: %v is not a name (a non-empty string without commas)" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap the client CA is mounted from: the chart's restore-guard-client-ca, or the admin's. */}}
{{- define "restore-guard.clientCAConfigMap" -}}
{{- .Values.mtls.existingConfigMap | default "restore-guard-client-ca" -}}
{{- end -}}

{{/*
The group restore-guard reads PodCheckpoints from, which the ClusterRole grants and the companion policy's
authorizer check names: node.k8s.io (upstream), or checkpoint.k8s.io with the stand-in (kube-apiserver cannot
serve a CRD in node.k8s.io, a group it serves itself).
*/}}
{{- define "restore-guard.checkpointGroup" -}}
{{- if .Values.podCheckpointStandIn.enabled -}}checkpoint.k8s.io{{- else -}}node.k8s.io{{- end -}}
{{- end -}}

{{/*
Fails unless the policy value's checkpointAPI.group (node.k8s.io when unset) is that group: the policy is the
admin's text, so the chart does not rewrite it (the stand-in Component patches it), it checks it.
*/}}
{{- define "restore-guard.requireCheckpointGroup" -}}
{{- $want := include "restore-guard.checkpointGroup" . -}}
{{- $api := (fromYaml .Values.policy).checkpointAPI -}}
{{- $got := "node.k8s.io" -}}
{{- if and (kindIs "map" $api) (hasKey $api "group") -}}{{- $got = toString $api.group -}}{{- end -}}
{{- if ne $got $want -}}
{{- if .Values.podCheckpointStandIn.enabled -}}
{{- fail (printf "podCheckpointStandIn.enabled is on: the policy value must say `checkpointAPI: {group: checkpoint.k8s.io}` (the stand-in CRD's group; it says %s). README \"Clusters without the upstream API\"" $got) -}}
{{- else -}}
{{- fail (printf "the policy value's checkpointAPI.group is %s, but the chart grants and checks podcheckpoints in node.k8s.io (checkpoint.k8s.io with podCheckpointStandIn.enabled)" $got) -}}
{{- end -}}
{{- end -}}
{{- end -}}
