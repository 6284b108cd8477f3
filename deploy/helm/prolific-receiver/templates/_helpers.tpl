{{/* The chart name, shortened to a DNS label. */}}
{{- define "receiver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: <release>-<chart>, or the release name when it holds the chart name. */}}
{{- define "receiver.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "receiver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "receiver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "receiver.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "receiver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: prolific-receiver
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "receiver.secretName" -}}
{{- .Values.existingSecret | default (include "receiver.fullname" .) }}
{{- end }}

{{- define "receiver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "receiver.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{- define "receiver.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* RECEIVER_PUBLIC_URL: publicURL, else derived from the ingress host or the first ACME domain. */}}
{{- define "receiver.publicURL" -}}
{{- if .Values.publicURL }}
{{- .Values.publicURL }}
{{- else if .Values.acme.enabled }}
{{- printf "https://%s/hooks/prolific" (first .Values.acme.domains) }}
{{- else if .Values.ingress.enabled }}
{{- printf "https://%s/hooks/prolific" .Values.ingress.host }}
{{- end }}
{{- end }}

{{/*
GOMEMLIMIT: 90 % of limits.memory when it is written with Ki, Mi or Gi, so the
Go runtime leaves room for what the heap does not count. Empty otherwise (the
deployment then takes the whole limit through resourceFieldRef).
*/}}
{{- define "receiver.gomemlimit" -}}
{{- $limits := .Values.resources.limits | default dict }}
{{- $m := $limits.memory | default "" | toString }}
{{- if regexMatch "^[1-9][0-9]*(Ki|Mi|Gi)$" $m }}
{{- $n := regexFind "^[0-9]+" $m | atoi }}
{{- $unit := regexFind "(Ki|Mi|Gi)$" $m }}
{{- $kib := mul $n (get (dict "Ki" 1 "Mi" 1024 "Gi" 1048576) $unit) }}
{{- printf "%dKiB" (div (mul $kib 9) 10) }}
{{- end }}
{{- end }}

{{/* Checks that values.schema.json cannot express; a failure names the fix. */}}
{{- define "receiver.validate" -}}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicas) 1) }}
{{- fail (printf "replicas=%d needs store.type=postgres: SQLite serves one replica only (one receiver per database file)" (int .Values.replicas)) }}
{{- end }}
{{- if and .Values.acme.enabled .Values.ingress.enabled }}
{{- fail "acme.enabled and ingress.enabled exclude each other: with ACME the receiver terminates TLS itself behind a LoadBalancer Service" }}
{{- end }}
{{- if and .Values.acme.enabled (empty .Values.acme.domains) }}
{{- fail "acme.enabled needs acme.domains (RECEIVER_ACME_DOMAINS)" }}
{{- end }}
{{- if and (eq .Values.store.type "postgres") (not .Values.existingSecret) (not .Values.secrets.storeURL) }}
{{- fail "store.type=postgres needs secrets.storeURL (a postgres:// URL) or an existingSecret with the key store-url" }}
{{- end }}
{{- if and (eq .Values.store.type "sqlite") .Values.secrets.storeURL }}
{{- fail "secrets.storeURL is for store.type=postgres; with sqlite the database is /data/receiver.db on the volume" }}
{{- end }}
{{- $drain := add .Values.preStopSleepSeconds .Values.shutdownTimeoutSeconds }}
{{- if ge (int64 $drain) (int64 .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "preStopSleepSeconds + shutdownTimeoutSeconds (%d) must be below terminationGracePeriodSeconds (%d)" (int64 $drain) (int64 .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- end }}
