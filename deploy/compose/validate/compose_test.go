// Package validate checks deploy/compose/compose.yaml with the Compose
// specification's own loader (compose-go, what `docker compose config`
// uses), so the file is checked where no container engine is installed.
// It is its own module so that the receiver's go.mod does not carry the
// loader. Run by deploy/check.sh.
package validate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// dir is the compose directory, relative to this package.
const dir = ".."

// load reads compose.yaml the way `docker compose --env-file ENV` does
// from its directory, with env added to the variables.
func load(t *testing.T, envFile string, env ...string) (*types.Project, error) {
	t.Helper()
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithResolvedPaths(true)}
	if envFile != "" {
		// docker compose takes COMPOSE_PROFILES from the env file too.
		opts = append(opts, cli.WithEnvFiles(filepath.Join(dir, envFile)), cli.WithDotEnv)
		if profiles := envValue(t, envFile, "COMPOSE_PROFILES"); profiles != "" {
			opts = append(opts, cli.WithProfiles(strings.Split(profiles, ",")))
		}
	}
	o, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, opts...)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return cli.ProjectFromOptions(context.Background(), o)
}

// envValue returns KEY's value in the env file name (its last assignment).
func envValue(t *testing.T, name, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	val := ""
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && k == key {
			val = v
		}
	}
	return val
}

// checkFiles fails for a bind mount or build context that does not exist,
// and for an entrypoint under /usr/local/bin that is not a command the
// image builds (every directory under cmd/).
func checkFiles(t *testing.T, p *types.Project) {
	t.Helper()
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist", name, v.Source)
			}
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, "Dockerfile")); err != nil {
				t.Errorf("service %s builds from %s, which has no Dockerfile", name, s.Build.Context)
			}
		}
		if len(s.Entrypoint) > 0 {
			if bin, ok := strings.CutPrefix(s.Entrypoint[0], "/usr/local/bin/"); ok {
				if _, err := os.Stat(filepath.Join(dir, "..", "..", "cmd", bin)); err != nil {
					t.Errorf("service %s runs /usr/local/bin/%s, which the image does not build (no cmd/%s)", name, bin, bin)
				}
			}
		}
	}
}

// TestDemo: the demo stack (demo.env, profile "demo") loads, every file it
// mounts exists, its secrets match the fake Prolific's settings, and the
// receivers can read the outputs file they are told to use.
func TestDemo(t *testing.T) {
	p, err := load(t, "demo.env")
	if err != nil {
		t.Fatalf("compose.yaml with demo.env: %v", err)
	}
	for _, want := range []string{"receiver-1", "receiver-2", "postgres", "prometheus", "grafana", "fake-prolific", "lab-consumer", "nats"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("demo stack has no service %s (has %v)", want, slices.Sorted(func(yield func(string) bool) {
				for n := range p.Services {
					if !yield(n) {
						return
					}
				}
			}))
		}
	}
	checkFiles(t, p)
	for name, key := range map[string]string{"prolific_api_token": "FAKE_PROLIFIC_TOKEN", "prolific_webhook_secret": "FAKE_PROLIFIC_SECRET"} {
		b, err := os.ReadFile(p.Secrets[name].File)
		if err != nil {
			t.Errorf("secret %s: %v", name, err)
			continue
		}
		if got, want := strings.TrimSpace(string(b)), envValue(t, "demo.env", key); got != want {
			t.Errorf("secret %s = %q, but the fake Prolific is given %s=%q", name, got, key, want)
		}
	}
	for _, name := range []string{"receiver-1", "receiver-2"} {
		s := p.Services[name]
		file := s.Environment["RECEIVER_OUTPUTS_FILE"]
		if file == nil || *file == "" {
			t.Errorf("%s: RECEIVER_OUTPUTS_FILE is not set in the demo", name)
			continue
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == *file }) {
			t.Errorf("%s: RECEIVER_OUTPUTS_FILE=%s is not mounted", name, *file)
		}
		if got := s.Environment["FORWARD_SECRET"]; got == nil || !strings.HasPrefix(*got, "whsec_") {
			t.Errorf("%s: FORWARD_SECRET is not a whsec_ secret in the demo", name)
		}
		rules := s.Environment["RECEIVER_RULES_FILE"]
		if rules == nil || !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == *rules }) {
			t.Errorf("%s: RECEIVER_RULES_FILE is not set to a mounted file in the demo", name)
		}
		if got := s.Environment["SLACK_WEBHOOK_URL"]; got == nil || !strings.HasPrefix(*got, "http://fake-prolific:8900/_sink/") {
			t.Errorf("%s: SLACK_WEBHOOK_URL does not point at the fake Prolific's sink in the demo", name)
		}
	}
	if got, want := p.Services["lab-consumer"].Environment["FORWARD_SECRET"], p.Services["receiver-1"].Environment["FORWARD_SECRET"]; got == nil || want == nil || *got != *want {
		t.Errorf("lab-consumer verifies with a different FORWARD_SECRET than the receivers sign with")
	}
}

// TestProduction: without the demo, the stack refuses to load until the
// passwords are set (README.md), then loads without the demo's services,
// forwarding nothing unless RECEIVER_OUTPUTS_FILE is set.
func TestProduction(t *testing.T) {
	_, err := load(t, "")
	if err == nil || !strings.Contains(err.Error(), "set POSTGRES_PASSWORD in .env") {
		t.Fatalf("compose.yaml without POSTGRES_PASSWORD: err = %v, want the message asking for it", err)
	}
	p, err := load(t, "", "POSTGRES_PASSWORD=p", "GRAFANA_ADMIN_PASSWORD=g", "RECEIVER_PUBLIC_URL=https://receiver.example.com/hooks/prolific")
	if err != nil {
		t.Fatalf("compose.yaml with the passwords set: %v", err)
	}
	for _, demo := range []string{"fake-prolific", "lab-consumer", "nats"} {
		if _, ok := p.Services[demo]; ok {
			t.Errorf("service %s runs without the demo profile", demo)
		}
	}
	checkFiles(t, p)
	if got := p.Services["receiver-1"].Environment["RECEIVER_OUTPUTS_FILE"]; got != nil && *got != "" {
		t.Errorf("RECEIVER_OUTPUTS_FILE = %q without the demo, want empty (outputs off)", *got)
	}
	if got := p.Services["receiver-1"].Environment["RECEIVER_RULES_FILE"]; got != nil && *got != "" {
		t.Errorf("RECEIVER_RULES_FILE = %q without the demo, want empty (no rules)", *got)
	}
	if got := p.Services["receiver-1"].Environment["RECEIVER_ACTIONS"]; got == nil || *got != "dry-run" {
		t.Errorf("RECEIVER_ACTIONS without the demo = %v, want dry-run", got)
	}
}
