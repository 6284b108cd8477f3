{{/* The pod template shared by the StatefulSet (SQLite) and the Deployment (PostgreSQL). */}}
{{- define "receiver.podTemplate" -}}
metadata:
  labels:
    {{- include "receiver.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when their configuration changes.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if not .Values.existingSecret }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- end }}
    {{- if .Values.metrics.podAnnotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: "9090"
    prometheus.io/path: /metrics
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "receiver.serviceAccountName" . }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  topologySpreadConstraints:
  {{- if .Values.topologySpreadConstraints }}
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
  {{- else }}
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "receiver.selectorLabels" . | nindent 10 }}
  {{- end }}
  containers:
    - name: receiver
      image: {{ include "receiver.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["serve"]
      ports:
        {{- if .Values.acme.enabled }}
        # The public listener serves TLS itself (RECEIVER_LISTEN_ADDR).
        - name: https
          containerPort: 8080
          protocol: TCP
        {{- if .Values.acme.http01 }}
        - name: acme-http
          containerPort: 8081
          protocol: TCP
        {{- end }}
        {{- else }}
        - name: http
          containerPort: 8080
          protocol: TCP
        {{- end }}
        - name: admin
          containerPort: 9090
          protocol: TCP
      envFrom:
        - configMapRef:
            name: {{ include "receiver.fullname" . }}
        {{- with .Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        {{- if eq .Values.store.type "postgres" }}
        - name: RECEIVER_STORE
          valueFrom:
            secretKeyRef:
              name: {{ include "receiver.secretName" . }}
              key: store-url
        {{- end }}
        - name: PROLIFIC_WEBHOOK_PREVIOUS_SECRETS
          valueFrom:
            secretKeyRef:
              name: {{ include "receiver.secretName" . }}
              key: prolific-webhook-previous-secrets
              optional: true
        - name: RECEIVER_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "receiver.secretName" . }}
              key: admin-token
              optional: true
        {{- if not (include "receiver.gomemlimit" .) }}
        {{- if (.Values.resources.limits | default dict).memory }}
        - name: GOMEMLIMIT
          valueFrom:
            resourceFieldRef:
              resource: limits.memory
        {{- end }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumeMounts:
        - name: secrets
          mountPath: /run/secrets/receiver
          readOnly: true
        - name: data
          mountPath: /data
        - name: tmp
          mountPath: /tmp
        {{- if or .Values.outputs.file .Values.rules.file .Values.acme.caRoots }}
        - name: config-files
          mountPath: /etc/receiver
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: {{ .Values.startupProbe.periodSeconds }}
        failureThreshold: {{ .Values.startupProbe.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      livenessProbe:
        httpGet:
          path: /healthz
          port: admin
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      {{- if gt (int .Values.preStopSleepSeconds) 0 }}
      lifecycle:
        # The sleep action needs Kubernetes 1.30+ (the image has no shell).
        preStop:
          sleep:
            seconds: {{ .Values.preStopSleepSeconds }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop: ["ALL"]
  volumes:
    - name: secrets
      secret:
        secretName: {{ include "receiver.secretName" . }}
        defaultMode: 0440
        items:
          - key: prolific-api-token
            path: prolific-api-token
          - key: prolific-webhook-secret
            path: prolific-webhook-secret
    {{- if eq .Values.store.type "postgres" }}
    # Nothing is kept here with PostgreSQL; the read-only root filesystem
    # needs a writable /data for anything that would write there.
    - name: data
      emptyDir:
        sizeLimit: 64Mi
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if or .Values.outputs.file .Values.rules.file .Values.acme.caRoots }}
    - name: config-files
      configMap:
        name: {{ include "receiver.fullname" . }}-files
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
