package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Header starts every file KubernetesManifests writes; files without it in
// the output directory (secret.example.yaml) are the user's and left alone.
const Header = "# Rendered from deploy/helm/prolific-receiver with deploy/helm/kubernetes-values.yaml\n" +
	"# by `make manifests`: edit the chart or those values, not this file.\n"

// optionalKinds are rendered into their own file but left out of the
// kustomization: they need CRDs (Prometheus Operator) or a host to edit.
var optionalKinds = map[string]string{
	"ServiceMonitor": "Prometheus Operator scraping (needs the monitoring.coreos.com CRDs)",
	"PrometheusRule": "the alert rules for the Prometheus Operator (needs the monitoring.coreos.com CRDs)",
	"Ingress":        "public HTTPS entry for POST /hooks/prolific (edit the host and TLS first)",
}

// LoadValues reads a values file.
func LoadValues(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(b, &vals); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return vals, nil
}

// KubernetesManifests renders the chart with the values file into the
// contents of deploy/kubernetes: one file per template and a
// kustomization.yaml listing the ones a plain `kubectl apply -k` applies.
func KubernetesManifests(chartDir, valuesFile string) (map[string]string, error) {
	vals, err := LoadValues(valuesFile)
	if err != nil {
		return nil, err
	}
	docs, err := Render(chartDir, vals)
	if err != nil {
		return nil, err
	}
	objs, err := Decode(docs)
	if err != nil {
		return nil, err
	}
	files := map[string]*bytes.Buffer{}
	var order []string
	var optional []string
	var core []string
	for _, o := range objs {
		name := path.Base(o.Source)
		b, ok := files[name]
		if !ok {
			b = bytes.NewBufferString(Header)
			files[name] = b
			order = append(order, name)
			if why, opt := optionalKinds[o.Kind]; opt {
				optional = append(optional, fmt.Sprintf("#   %-20s %s", name, why))
			} else {
				core = append(core, name)
			}
		}
		b.WriteString("---\n")
		// Helm's ConfigMap/Secret checksums change with the release; a
		// kustomize user rolls the pods by re-applying, so keep them.
		b.WriteString(o.YAML)
	}
	out := map[string]string{}
	for _, name := range order {
		out[name] = files[name].String()
	}
	var k strings.Builder
	k.WriteString(Header)
	k.WriteString("#\n# Namespace-less: kubectl apply -k deploy/kubernetes -n <namespace>, or set\n")
	k.WriteString("# namespace: in an overlay. Create the Secret first (secret.example.yaml).\n")
	if len(optional) > 0 {
		sort.Strings(optional)
		k.WriteString("#\n# Rendered but not listed, apply them with kubectl apply -f when wanted:\n")
		k.WriteString(strings.Join(optional, "\n") + "\n")
	}
	k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, name := range core {
		k.WriteString("  - " + name + "\n")
	}
	out["kustomization.yaml"] = k.String()
	return out, nil
}

// WriteManifests writes KubernetesManifests into dir and removes the files a
// previous run wrote that the chart no longer renders.
func WriteManifests(chartDir, valuesFile, dir string) error {
	files, err := KubernetesManifests(chartDir, valuesFile)
	if err != nil {
		return err
	}
	old, err := RenderedFiles(dir)
	if err != nil {
		return err
	}
	for name := range old {
		if _, keep := files[name]; !keep {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// RenderedFiles returns the files in dir that carry Header.
func RenderedFiles(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(string(b), Header) {
			out[e.Name()] = string(b)
		}
	}
	return out, nil
}
