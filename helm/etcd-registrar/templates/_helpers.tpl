{{/* The release's object name: the release name when it already says etcd-registrar. */}}
{{- define "etcd-registrar.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "etcd-registrar.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "etcd-registrar.labels" -}}
{{ include "etcd-registrar.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "etcd-registrar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "etcd-registrar.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Stable per release: the same across upgrades, different for each release name/namespace. */}}
{{- define "etcd-registrar.ownerId" -}}
{{- default (printf "helm-%s-%s" .Release.Namespace .Release.Name) .Values.ownerId -}}
{{- end -}}

{{/* The container's arguments (tests run them through `etcd-registrar check-config`). */}}
{{- define "etcd-registrar.args" -}}
- {{ printf "--owner-id=%s" (include "etcd-registrar.ownerId" .) | quote }}
- {{ printf "--etcd-endpoints=%s" (join "," .Values.etcd.endpoints) | quote }}
{{- if .Values.etcd.auth.existingSecret }}
- --etcd-username=$(ETCD_USERNAME)
- --etcd-password-file=/etc/etcd-registrar/etcd-auth/password
{{- end }}
{{- if .Values.etcd.tls.existingSecret }}
{{- if .Values.etcd.tls.caKey }}
- --etcd-ca=/etc/etcd-registrar/etcd-tls/ca.crt
{{- end }}
{{- if .Values.etcd.tls.certKey }}
- --etcd-cert=/etc/etcd-registrar/etcd-tls/tls.crt
- --etcd-key=/etc/etcd-registrar/etcd-tls/tls.key
{{- end }}
{{- end }}
{{- if .Values.etcd.tls.insecureSkipVerify }}
- --etcd-insecure-skip-verify
{{- end }}
{{- if .Values.policy }}
- --policy=/etc/etcd-registrar/policy/policy.yaml
{{- end }}
{{- if .Values.watch.namespace }}
- {{ printf "--namespace=%s" .Values.watch.namespace | quote }}
{{- end }}
{{- if .Values.watch.selector }}
- {{ printf "--selector=%s" .Values.watch.selector | quote }}
{{- end }}
- --http-addr=0.0.0.0:{{ .Values.service.port }}
- {{ printf "--log-level=%s" .Values.logLevel | quote }}
- {{ printf "--log-format=%s" .Values.logFormat | quote }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
