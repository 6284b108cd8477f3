// Package chartcheck renders the prolific-receiver Helm chart with Helm's own
// Go packages (what `helm template` and `helm lint` run), decodes every
// rendered object strictly into its Kubernetes API type, and writes the
// kustomize manifests in deploy/kubernetes from the chart. It is its own Go
// module so the receiver's go.mod does not carry Helm and the Kubernetes
// libraries.
package chartcheck

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
)

// KubeVersion is the Kubernetes version the chart is rendered and linted for:
// the oldest the chart supports (the preStop sleep action needs 1.30).
const KubeVersion = "v1.30.0"

// ReleaseName is the release name used for the rendered manifests.
const ReleaseName = "receiver"

// Doc is one rendered YAML document and the template that produced it.
type Doc struct {
	Source string // e.g. prolific-receiver/templates/service.yaml
	YAML   string
}

// Render renders the chart at chartDir with vals as `helm template` does
// (values.schema.json checked, the chart's fail calls honoured), for a
// cluster that has the Prometheus Operator's CRDs.
func Render(chartDir string, vals map[string]any) ([]Doc, error) {
	quietHelm()
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	inst := action.NewInstall(cfg)
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = ReleaseName
	inst.Namespace = "default"
	inst.Replace = true
	inst.KubeVersion = kv
	inst.APIVersions = common.VersionSet{"monitoring.coreos.com/v1"}
	if vals == nil {
		vals = map[string]any{}
	}
	r, err := inst.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("unexpected release type %T", r)
	}
	return SplitManifest(rel.Manifest), nil
}

// quietHelm keeps Helm's informational logging (the chart's files/ links to
// the shipped dashboard and alerts are symbolic links, which Helm reports)
// out of the output; warnings still show.
func quietHelm() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// SplitManifest splits Helm's manifest stream into its documents.
func SplitManifest(manifest string) []Doc {
	var docs []Doc
	for _, part := range strings.Split(manifest, "\n---\n") {
		part = strings.TrimSpace(strings.TrimPrefix(part, "---\n"))
		if onlyComments(part) {
			continue
		}
		d := Doc{YAML: part + "\n"}
		if first, rest, ok := strings.Cut(part, "\n"); ok && strings.HasPrefix(first, "# Source: ") {
			d.Source = strings.TrimPrefix(first, "# Source: ")
			d.YAML = rest + "\n"
		}
		docs = append(docs, d)
	}
	return docs
}

// Lint runs Helm's chart linter (`helm lint`) with vals and returns every
// finding at warning level or above.
func Lint(chartDir string, vals map[string]any) error {
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return err
	}
	if vals == nil {
		vals = map[string]any{}
	}
	quietHelm()
	res := lint.RunAll(chartDir, vals, "default", lint.WithKubeVersion(kv))
	var errs []error
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			errs = append(errs, m)
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// onlyComments reports whether a YAML document holds nothing but comments.
func onlyComments(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
