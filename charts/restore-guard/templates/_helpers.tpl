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
