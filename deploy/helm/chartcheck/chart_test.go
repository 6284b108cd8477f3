package chartcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const chartDir = "../prolific-receiver"

func TestMain(m *testing.M) {
	quietHelm()
	os.Exit(m.Run())
}

// valueSets are the main ways the chart is installed; each must render, pass
// `helm lint`, decode strictly and keep its references consistent.
var valueSets = map[string]string{
	"defaults (SQLite, one replica, chart-made Secret)": ``,
	"postgres, existing secret, ingress, monitoring, outputs, rules": `
replicas: 3
store: {type: postgres}
existingSecret: receiver-secrets
workspaceID: ws1
ingress: {enabled: true, className: nginx, host: hooks.lab.example}
metrics: {serviceMonitor: {enabled: true, labels: {release: kps}}, prometheusRule: {enabled: true}}
grafanaDashboard: {enabled: true}
outputs:
  file: |
    outputs:
      - name: forward
        type: http
        http: {url: "${FORWARD_URL}", secret: "${FORWARD_SECRET}"}
rules:
  file: |
    rules: []
  actions: live
extraEnv:
  - name: FORWARD_URL
    value: https://lab.example/events
  - name: FORWARD_SECRET
    valueFrom: {secretKeyRef: {name: forward, key: secret}}
resources: {limits: {memory: 1Gi}}
`,
	"postgres, chart-made secret": `
replicas: 2
store: {type: postgres}
secrets: {storeURL: "postgres://u:p4ss-91c@db:5432/r", prolificAPIToken: tok-3f9a, adminToken: adm-77c1}
`,
	"ACME on SQLite": `
acme:
  enabled: true
  domains: [hooks.lab.example, hooks2.lab.example]
  email: ops@lab.example
  directoryURL: https://ca.internal/acme/directory
  caRoots: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
`,
	"ACME on PostgreSQL, TLS-ALPN-01 only": `
replicas: 3
store: {type: postgres}
existingSecret: s
acme: {enabled: true, domains: [hooks.lab.example], http01: false}
`,
}

func parseValues(t *testing.T, s string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(s), &vals); err != nil {
		t.Fatalf("values: %v", err)
	}
	return vals
}

// render renders, decodes strictly and checks references; it fails the test
// on any error.
func render(t *testing.T, values string) []Object {
	t.Helper()
	vals := parseValues(t, values)
	docs, err := Render(chartDir, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	objs, err := Decode(docs)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	// The Secrets the value sets name that users make themselves.
	external := []string{"forward"}
	if existing, _ := vals["existingSecret"].(string); existing != "" {
		external = append(external, existing)
	}
	if err := CheckRefs(objs, external...); err != nil {
		t.Fatalf("references: %v", err)
	}
	return objs
}

func find[T any](t *testing.T, objs []Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok && (name == "" || o.Name == name) {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T named %q rendered", zero, name)
	return zero
}

func count[T any](objs []Object) int {
	n := 0
	for _, o := range objs {
		if _, ok := o.Obj.(T); ok {
			n++
		}
	}
	return n
}

func podSpec(t *testing.T, objs []Object) corev1.PodSpec {
	t.Helper()
	for _, o := range objs {
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			return w.Spec.Template.Spec
		case *appsv1.StatefulSet:
			return w.Spec.Template.Spec
		}
	}
	t.Fatal("no workload rendered")
	return corev1.PodSpec{}
}

func config(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	return find[*corev1.ConfigMap](t, objs, "receiver-prolific-receiver").Data
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func TestValueSetsRenderLintAndDecodeStrictly(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			objs := render(t, values)
			if len(objs) < 6 {
				t.Errorf("rendered %d objects, want at least 6", len(objs))
			}
			if err := Lint(chartDir, parseValues(t, values)); err != nil {
				t.Errorf("helm lint: %v", err)
			}
		})
	}
}

func TestDefaultsAreOneSQLiteReplicaWithAVolume(t *testing.T) {
	objs := render(t, "")
	if n := count[*appsv1.Deployment](objs); n != 0 {
		t.Errorf("SQLite rendered %d Deployments, want a StatefulSet only", n)
	}
	sts := find[*appsv1.StatefulSet](t, objs, "")
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet replicas = %v, want 1", sts.Spec.Replicas)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Fatalf("volumeClaimTemplates = %+v, want one named data", sts.Spec.VolumeClaimTemplates)
	}
	if got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("PVC size = %s, want 1Gi", got)
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "data" && m.MountPath == "/data" }) {
		t.Errorf("the claim is not mounted at /data: %+v", c.VolumeMounts)
	}
	if slices.ContainsFunc(sts.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "data" }) {
		t.Error("a pod volume named data shadows the PersistentVolumeClaim")
	}
	cfg := config(t, objs)
	if got := cfg["RECEIVER_STORE"]; got != "sqlite:/data/receiver.db" {
		t.Errorf("RECEIVER_STORE = %q, want sqlite:/data/receiver.db", got)
	}
	if envVar(c, "RECEIVER_STORE") != nil {
		t.Error("RECEIVER_STORE also comes from the Secret on SQLite")
	}
	sec := find[*corev1.Secret](t, objs, "receiver-prolific-receiver")
	if _, ok := sec.Data["store-url"]; ok {
		t.Error("the chart-made Secret has store-url on SQLite")
	}
	for _, k := range []string{"prolific-api-token", "prolific-webhook-secret"} {
		if _, ok := sec.Data[k]; !ok {
			t.Errorf("the chart-made Secret lacks %s (the pod mounts it)", k)
		}
	}
	if n := count[*policyv1.PodDisruptionBudget](objs); n != 0 {
		t.Error("a PodDisruptionBudget for a single replica would block node drains")
	}
	// 90 % of 256Mi, in KiB.
	if got := cfg["GOMEMLIMIT"]; got != "235929KiB" {
		t.Errorf("GOMEMLIMIT = %q, want 235929KiB (90 %% of 256Mi)", got)
	}
	if got := c.Resources.Limits.Memory().String(); got != "256Mi" {
		t.Errorf("memory limit = %s, want 256Mi", got)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext = %+v, want a read-only root and no privilege escalation", sc)
	}
	if u := sts.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != 65532 {
		t.Errorf("runAsUser = %v, want 65532 (the image's user)", u)
	}
	if cfg["RECEIVER_ADMIN_ADDR"] != ":9090" || cfg["RECEIVER_LISTEN_ADDR"] != ":8080" {
		t.Errorf("listen addresses = %q, %q; want :8080 and :9090", cfg["RECEIVER_LISTEN_ADDR"], cfg["RECEIVER_ADMIN_ADDR"])
	}
	if cfg["RECEIVER_SHUTDOWN_TIMEOUT"] != "20s" {
		t.Errorf("RECEIVER_SHUTDOWN_TIMEOUT = %q, want 20s", cfg["RECEIVER_SHUTDOWN_TIMEOUT"])
	}
}

func TestPostgresReplicasReadTheStoreURLFromTheSecret(t *testing.T) {
	objs := render(t, valueSets["postgres, existing secret, ingress, monitoring, outputs, rules"])
	if n := count[*appsv1.StatefulSet](objs); n != 0 {
		t.Errorf("PostgreSQL rendered %d StatefulSets, want a Deployment", n)
	}
	if n := count[*corev1.Secret](objs); n != 0 {
		t.Errorf("existingSecret set, yet the chart rendered %d Secrets", n)
	}
	d := find[*appsv1.Deployment](t, objs, "")
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	e := envVar(c, "RECEIVER_STORE")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
		e.ValueFrom.SecretKeyRef.Name != "receiver-secrets" || e.ValueFrom.SecretKeyRef.Key != "store-url" {
		t.Fatalf("RECEIVER_STORE = %+v, want the store-url key of Secret receiver-secrets", e)
	}
	if _, ok := config(t, objs)["RECEIVER_STORE"]; ok {
		t.Error("the ConfigMap also sets RECEIVER_STORE (envFrom would be overridden, but it is confusing)")
	}
	if envVar(c, "FORWARD_SECRET") == nil || envVar(c, "FORWARD_URL") == nil {
		t.Error("extraEnv not passed to the container")
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, objs, "")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable = %v, want 1", pdb.Spec.MaxUnavailable)
	}
	if got := config(t, objs)["GOMEMLIMIT"]; got != "943718KiB" {
		t.Errorf("GOMEMLIMIT = %q, want 943718KiB (90 %% of 1Gi)", got)
	}
}

func TestIngressRoutesOnlyTheWebhookPathWithTLS(t *testing.T) {
	objs := render(t, valueSets["postgres, existing secret, ingress, monitoring, outputs, rules"])
	ing := find[*networkingv1.Ingress](t, objs, "")
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "receiver-tls" || ing.Spec.TLS[0].Hosts[0] != "hooks.lab.example" {
		t.Errorf("ingress TLS = %+v, want receiver-tls for hooks.lab.example", ing.Spec.TLS)
	}
	paths := ing.Spec.Rules[0].HTTP.Paths
	if len(paths) != 1 || paths[0].Path != "/hooks/prolific" || *paths[0].PathType != networkingv1.PathTypeExact {
		t.Errorf("ingress paths = %+v, want only /hooks/prolific (Exact)", paths)
	}
	if paths[0].Backend.Service.Port.Name != "http" {
		t.Errorf("ingress backend port = %+v, want the public port http", paths[0].Backend.Service.Port)
	}
	if got := config(t, objs)["RECEIVER_PUBLIC_URL"]; got != "https://hooks.lab.example/hooks/prolific" {
		t.Errorf("RECEIVER_PUBLIC_URL = %q, want the ingress host's https URL", got)
	}
}

func TestOutputsAndRulesFilesAreMountedFromAConfigMap(t *testing.T) {
	objs := render(t, valueSets["postgres, existing secret, ingress, monitoring, outputs, rules"])
	cfg := config(t, objs)
	files := find[*corev1.ConfigMap](t, objs, "receiver-prolific-receiver-files")
	spec := podSpec(t, objs)
	var mountDir string
	for _, m := range spec.Containers[0].VolumeMounts {
		if m.Name == "config-files" {
			mountDir = m.MountPath
		}
	}
	for env, key := range map[string]string{"RECEIVER_OUTPUTS_FILE": "outputs.yaml", "RECEIVER_RULES_FILE": "rules.yaml"} {
		if got, want := cfg[env], filepath.Join(mountDir, key); got != want {
			t.Errorf("%s = %q, want %q (the mounted ConfigMap key)", env, got, want)
		}
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(files.Data[key]), &doc); err != nil || len(doc) == 0 {
			t.Errorf("%s in the ConfigMap is not the YAML given: %q (%v)", key, files.Data[key], err)
		}
	}
	if !strings.Contains(files.Data["outputs.yaml"], "${FORWARD_SECRET}") {
		t.Error("outputs.yaml lost its ${VAR} reference (the chart must not expand it)")
	}
	if cfg["RECEIVER_ACTIONS"] != "live" {
		t.Errorf("RECEIVER_ACTIONS = %q, want live", cfg["RECEIVER_ACTIONS"])
	}
	// Without them there is no ConfigMap, no mount and no variable.
	objs = render(t, "")
	for _, o := range objs {
		if o.Name == "receiver-prolific-receiver-files" {
			t.Error("the files ConfigMap is rendered without outputs or rules")
		}
	}
	if _, ok := config(t, objs)["RECEIVER_OUTPUTS_FILE"]; ok {
		t.Error("RECEIVER_OUTPUTS_FILE set without an outputs file")
	}
}

func TestMonitoringObjectsCarryTheShippedAlertsAndDashboard(t *testing.T) {
	objs := render(t, valueSets["postgres, existing secret, ingress, monitoring, outputs, rules"])
	rule := find[*monitoringv1.PrometheusRule](t, objs, "")
	var shipped struct {
		Groups []struct {
			Name  string
			Rules []struct{ Alert, Expr string }
		}
	}
	b, err := os.ReadFile("../../prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &shipped); err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, g := range shipped.Groups {
		for _, r := range g.Rules {
			want = append(want, g.Name+"/"+r.Alert+": "+r.Expr)
		}
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			got = append(got, g.Name+"/"+r.Alert+": "+r.Expr.String())
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if len(want) < 5 || !slices.Equal(got, want) {
		t.Errorf("PrometheusRule alerts differ from deploy/prometheus/alerts.yml:\ngot  %q\nwant %q", got, want)
	}
	sm := find[*monitoringv1.ServiceMonitor](t, objs, "")
	if sm.Labels["release"] != "kps" {
		t.Errorf("ServiceMonitor labels = %v, want release=kps from values", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %+v", sm.Spec.Endpoints)
	}

	dash := find[*corev1.ConfigMap](t, objs, "receiver-prolific-receiver-dashboard")
	if dash.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard labels = %v, want grafana_dashboard=1 for the sidecar", dash.Labels)
	}
	shippedDash, err := os.ReadFile("../../grafana/receiver-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var a, z any
	if err := json.Unmarshal(shippedDash, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(dash.Data["receiver-dashboard.json"]), &z); err != nil {
		t.Fatalf("dashboard in the ConfigMap is not JSON: %v", err)
	}
	ab, _ := json.Marshal(a)
	zb, _ := json.Marshal(z)
	if string(ab) != string(zb) {
		t.Error("dashboard ConfigMap differs from deploy/grafana/receiver-dashboard.json")
	}
}

func TestNetworkPolicyOpensThePublicPortAndKeepsAdminForMonitoring(t *testing.T) {
	for name, values := range map[string]string{"plain": "", "acme": valueSets["ACME on SQLite"]} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, values)
			np := find[*networkingv1.NetworkPolicy](t, objs, "")
			if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				t.Fatalf("policyTypes = %v, want Ingress", np.Spec.PolicyTypes)
			}
			public := map[string]bool{"http": name == "plain", "https": name == "acme", "acme-http": name == "acme"}
			var adminRules int
			for _, r := range np.Spec.Ingress {
				for _, p := range r.Ports {
					port := p.Port.String()
					switch {
					case port == "admin":
						adminRules++
						if len(r.From) == 0 || r.From[0].NamespaceSelector == nil ||
							r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
							t.Errorf("admin port open to %+v, want only the monitoring namespace", r.From)
						}
					case public[port]:
						if len(r.From) != 0 {
							t.Errorf("public port %s restricted to %+v, want open", port, r.From)
						}
						delete(public, port)
					default:
						t.Errorf("unexpected port %s in the NetworkPolicy", port)
					}
				}
			}
			if adminRules != 1 {
				t.Errorf("admin port in %d rules, want 1", adminRules)
			}
			for port, want := range public {
				if want {
					t.Errorf("public port %s not opened", port)
				}
			}
		})
	}
}

func TestACMEServesTLSItselfBehindALoadBalancer(t *testing.T) {
	objs := render(t, valueSets["ACME on SQLite"])
	svc := find[*corev1.Service](t, objs, "receiver-prolific-receiver")
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("public Service type = %s, want LoadBalancer", svc.Spec.Type)
	}
	ports := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		ports[p.Port] = p.TargetPort.String()
	}
	if ports[443] != "https" || ports[80] != "acme-http" || len(ports) != 2 {
		t.Errorf("Service ports = %v, want 443→https and 80→acme-http", ports)
	}
	cfg := config(t, objs)
	want := map[string]string{
		"RECEIVER_ACME_DOMAINS":       "hooks.lab.example,hooks2.lab.example",
		"RECEIVER_ACME_EMAIL":         "ops@lab.example",
		"RECEIVER_ACME_DIRECTORY_URL": "https://ca.internal/acme/directory",
		"RECEIVER_ACME_CA_ROOTS_FILE": "/etc/receiver/acme-ca-roots.pem",
		"RECEIVER_ACME_HTTP_ADDR":     ":8081",
		"RECEIVER_LISTEN_ADDR":        ":8080",
		"RECEIVER_PUBLIC_URL":         "https://hooks.lab.example/hooks/prolific",
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("%s = %q, want %q", k, cfg[k], v)
		}
	}
	if !strings.Contains(find[*corev1.ConfigMap](t, objs, "receiver-prolific-receiver-files").Data["acme-ca-roots.pem"], "BEGIN CERTIFICATE") {
		t.Error("the CA roots are not in the files ConfigMap")
	}
	if n := count[*networkingv1.Ingress](objs); n != 0 {
		t.Error("ACME rendered an Ingress")
	}

	objs = render(t, valueSets["ACME on PostgreSQL, TLS-ALPN-01 only"])
	svc = find[*corev1.Service](t, objs, "receiver-prolific-receiver")
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 {
		t.Errorf("TLS-ALPN-01 only: Service ports = %+v, want 443 alone", svc.Spec.Ports)
	}
	if v := config(t, objs)["RECEIVER_ACME_HTTP_ADDR"]; v != "off" {
		t.Errorf("TLS-ALPN-01 only: RECEIVER_ACME_HTTP_ADDR = %q, want off (HTTP listener off)", v)
	}
}

func TestGOMEMLIMITFollowsTheMemoryLimit(t *testing.T) {
	for _, tc := range []struct{ limit, want string }{
		{"512Mi", "471859KiB"},
		{"2Gi", "1887436KiB"},
		{"300000Ki", "270000KiB"},
	} {
		objs := render(t, "resources: {limits: {memory: "+tc.limit+"}}")
		if got := config(t, objs)["GOMEMLIMIT"]; got != tc.want {
			t.Errorf("limit %s: GOMEMLIMIT = %q, want %q", tc.limit, got, tc.want)
		}
	}
	// A limit the chart cannot take 90 % of: the whole limit, from the API.
	objs := render(t, "resources: {limits: {memory: 500M}}")
	if _, ok := config(t, objs)["GOMEMLIMIT"]; ok {
		t.Error("GOMEMLIMIT in the ConfigMap for a decimal limit")
	}
	e := envVar(podSpec(t, objs).Containers[0], "GOMEMLIMIT")
	if e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT env = %+v, want resourceFieldRef limits.memory", e)
	}
	// No limit: no GOMEMLIMIT at all.
	objs = render(t, "resources: {limits: null}")
	if _, ok := config(t, objs)["GOMEMLIMIT"]; ok || envVar(podSpec(t, objs).Containers[0], "GOMEMLIMIT") != nil {
		t.Error("GOMEMLIMIT set without a memory limit")
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct{ name, values, want string }{
		{"several replicas on SQLite", "replicas: 2", "needs store.type=postgres"},
		{"typo at the top", "replica: 3", "replica"},
		{"typo nested", "ingress: {enabled: true, hots: x.example}", "hots"},
		{"unknown store", "store: {type: mysql}", "/store/type"},
		{"ACME and ingress", "acme: {enabled: true, domains: [a.example]}\ningress: {enabled: true}", "exclude each other"},
		{"ACME without domains", "acme: {enabled: true}", "needs acme.domains"},
		{"postgres without a URL", "store: {type: postgres}", "secrets.storeURL"},
		{"not a postgres URL", "store: {type: postgres}\nsecrets: {storeURL: 'mysql://x'}", "storeURL"},
		{"drain longer than the grace period", "shutdownTimeoutSeconds: 40", "terminationGracePeriodSeconds"},
		{"env that is not the receiver's", "env: {PATH: /bin}", "PATH"},
		{"unknown actions mode", "rules: {file: 'rules: []', actions: yes}", "actions"},
		{"a name Kubernetes refuses", "fullnameOverride: Receiver_1", "fullnameOverride"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(chartDir, parseValues(t, tc.values))
			if err == nil {
				t.Fatalf("rendered; want an error mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSecretsNeverLandInTheConfigMap(t *testing.T) {
	objs := render(t, valueSets["postgres, chart-made secret"])
	sec := find[*corev1.Secret](t, objs, "receiver-prolific-receiver")
	if string(sec.Data["store-url"]) != "postgres://u:p4ss-91c@db:5432/r" || string(sec.Data["admin-token"]) != "adm-77c1" {
		t.Errorf("Secret data = %q", sec.Data)
	}
	for _, o := range objs {
		if _, isSecret := o.Obj.(*corev1.Secret); isSecret {
			continue
		}
		for _, s := range []string{"p4ss-91c", "tok-3f9a", "adm-77c1"} {
			if strings.Contains(o.YAML, s) {
				t.Errorf("%s %s carries the secret %q", o.Kind, o.Name, s)
			}
		}
	}
}

// TestKubernetesManifestsAreRenderedFromTheChart fails when deploy/kubernetes
// differs from the chart's output: run `make manifests` and commit.
func TestKubernetesManifestsAreRenderedFromTheChart(t *testing.T) {
	want, err := KubernetesManifests(chartDir, "../kubernetes-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := RenderedFiles("../../kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("deploy/kubernetes/%s differs from the chart's rendering: run `make manifests` and commit", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("deploy/kubernetes/%s is no longer rendered by the chart: run `make manifests`", name)
		}
	}
	// The rendered set is the production shape: replicas on PostgreSQL.
	var docs []Doc
	for _, c := range want {
		docs = append(docs, SplitManifest(c)...)
	}
	var objs []Object
	for _, d := range docs {
		if strings.Contains(d.YAML, "kind: Kustomization") {
			continue
		}
		o, err := Decode([]Doc{d})
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	if err := CheckRefs(objs, "receiver"); err != nil {
		t.Errorf("deploy/kubernetes references: %v", err)
	}
	if d := find[*appsv1.Deployment](t, objs, "receiver"); *d.Spec.Replicas != 3 {
		t.Errorf("deploy/kubernetes replicas = %d, want 3", *d.Spec.Replicas)
	}
}

// The reference checks themselves catch what the API server would refuse.
func TestCheckRefsCatchesBadLabelsAndDanglingPorts(t *testing.T) {
	docs, err := Render(chartDir, parseValues(t, `metrics: {serviceMonitor: {enabled: true, labels: {"bad key!": "x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(docs)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRefs(objs); err == nil || !strings.Contains(err.Error(), "ServiceMonitor") {
		t.Errorf("CheckRefs = %v, want the ServiceMonitor's invalid label key reported", err)
	}

	objs = render(t, "")
	svc := find[*corev1.Service](t, objs, "receiver-prolific-receiver")
	svc.Spec.Ports[0].TargetPort = intstr.FromString("nope")
	if err := CheckRefs(objs); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("CheckRefs = %v, want the Service's unknown target port reported", err)
	}
}

// receiverVariables returns the environment variables the receiver reads
// (the envconfig tags in cmd/receiver).
func receiverVariables(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../../../cmd/receiver/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("cmd/receiver sources not found: %v", err)
	}
	vars := map[string]bool{}
	tag := regexp.MustCompile(`envconfig:"([A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tag.FindAllStringSubmatch(string(b), -1) {
			vars[m[1]] = true
		}
	}
	return vars
}

// TestEveryVariableTheChartSetsIsTheReceivers catches a chart that sets a
// variable the receiver does not read (it would be ignored silently).
func TestEveryVariableTheChartSetsIsTheReceivers(t *testing.T) {
	known := receiverVariables(t)
	for _, name := range []string{"RECEIVER_ACME_DOMAINS", "RECEIVER_OUTPUTS_FILE", "RECEIVER_STORE"} {
		if !known[name] {
			t.Fatalf("%s not found among the receiver's variables: the source scan is broken", name)
		}
	}
	for setName, values := range valueSets {
		objs := render(t, values)
		names := []string{}
		for k := range config(t, objs) {
			names = append(names, k)
		}
		for _, e := range podSpec(t, objs).Containers[0].Env {
			names = append(names, e.Name)
		}
		for _, n := range names {
			switch {
			case n == "GOMEMLIMIT" || strings.HasPrefix(n, "FORWARD_"): // Go's own; the outputs file's ${VAR}s
			case known[n]:
			case strings.HasSuffix(n, "_FILE") && known[strings.TrimSuffix(n, "_FILE")]: // a secret read from a file
			default:
				t.Errorf("%s: the chart sets %s, which the receiver does not read", setName, n)
			}
		}
	}
}
