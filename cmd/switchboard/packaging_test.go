package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The packaging's tests: the Dockerfile, the systemd unit and make release, each checked with
// the tool that uses it, and skipped (never failed, CI included) where that tool is missing:
// CI does not promise Docker or systemd.

// repoRoot is the repository's top folder, where the Makefile and Dockerfile are.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runTool runs name with args in dir within d and returns its combined output; a failure to
// run or a non-zero exit fails the test.
func runTool(t *testing.T, d time.Duration, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDockerImageBuilds builds the image from the Dockerfile, then runs it: -version prints the
// version given at build time, the example config it carries passes -check, and it runs as
// the non-root user with /data a volume and the SIP, HTTP and RTP ports exposed. Skipped without
// a docker command whose daemon answers.
func TestDockerImageBuilds(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not on PATH: the image is not built")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	out, err := exec.CommandContext(ctx, docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	cancel()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("docker is installed but its daemon does not answer (%v): the image is not built\n%s", err, out)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	version := "test-" + hex.EncodeToString(suffix)
	image := "switchboard-test:" + version
	runTool(t, 15*time.Minute, repoRoot(t), docker, "build", "--build-arg", "VERSION="+version, "-t", image, ".")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, docker, "rmi", "-f", image).Run()
	})
	if got := runTool(t, time.Minute, "", docker, "run", "--rm", image, "-version"); strings.TrimSpace(got) != "switchboard "+version {
		t.Errorf("-version in the image printed %q, want %q", got, "switchboard "+version)
	}
	if got := runTool(t, time.Minute, "", docker, "run", "--rm", image, "-check", "-config", "/etc/switchboard/switchboard.example.yaml"); !strings.Contains(got, "config OK") {
		t.Errorf("the image's example config: %s", got)
	}
	cfg := runTool(t, time.Minute, "", docker, "image", "inspect", "--format",
		"{{.Config.User}} {{json .Config.Volumes}} {{json .Config.ExposedPorts}} {{json .Config.Entrypoint}}", image)
	for _, want := range []string{"65532", `"/data"`, `"5060/udp"`, `"5060/tcp"`, `"8080/tcp"`, `"20000-20199/udp"`, "/usr/local/bin/switchboard"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("image config %s lacks %s", cfg, want)
		}
	}
}

// TestSystemdUnitVerifies: contrib/systemd/switchboard.service passes systemd-analyze verify
// without a single warning (an unknown or misspelt key is only a warning there, and would
// leave a sandboxing option off), and its exposure by systemd-analyze security is at most 2.5
// of 10. verify wants ExecStart's program to exist, so the unit checked runs the test's build
// of switchboard instead of /usr/local/bin/switchboard. Skipped without systemd-analyze.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH: the unit is not verified")
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "contrib", "systemd", "switchboard.service"))
	if err != nil {
		t.Fatal(err)
	}
	const installed = "ExecStart=/usr/local/bin/switchboard "
	if !bytes.Contains(unit, []byte(installed)) {
		t.Fatalf("the unit's ExecStart does not run %s", installed)
	}
	path := filepath.Join(t.TempDir(), "switchboard.service")
	unit = bytes.Replace(unit, []byte(installed), []byte("ExecStart="+switchboardBinary(t)+" "), 1)
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runTool(t, time.Minute, "", analyze, "verify", "--man=no", path)
	// Complaints about the machine's own units are not ours; any about this one fail the test.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "switchboard") {
			t.Errorf("systemd-analyze verify: %s", line)
		} else if line != "" {
			t.Logf("systemd-analyze verify (not about this unit): %s", line)
		}
	}
	// --offline came with systemd 250; an older one cannot judge a unit that is not loaded.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sec, err := exec.CommandContext(ctx, analyze, "security", "--offline=true", "--threshold=25", "--no-pager", path).CombinedOutput()
	switch {
	case bytes.Contains(sec, []byte("unrecognized option")) || bytes.Contains(sec, []byte("Unknown option")):
		t.Logf("systemd-analyze security --offline unsupported here: exposure not checked")
	case err != nil:
		t.Errorf("systemd-analyze security: %v\n%s", err, sec)
	default:
		lines := strings.Split(strings.TrimSpace(string(sec)), "\n")
		t.Log(lines[len(lines)-1])
	}
}

// TestReleaseIsReproducible runs make release for linux/amd64 twice into two folders: the two
// binaries are the same bytes (so are their SHA256SUMS), hold no path of this checkout, say
// they were built static and trimmed, and print the version they were given. It checks the
// recipe (a date, a path or a VCS stamp in it would differ between the two); that the Go
// toolchain's output is reproducible is Go's own promise. The web bundle is left as it is (-o
// web), so the test needs no npm.
func TestReleaseIsReproducible(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not on PATH")
	}
	root := repoRoot(t)
	const version = "v0.0.0-repro"
	var sums [2]string
	var bin string
	for i := range sums {
		dist := filepath.Join(t.TempDir(), "dist")
		runTool(t, 10*time.Minute, root, mk, "--no-print-directory", "-o", "web", "release",
			"DIST="+dist, "PLATFORMS=linux/amd64", "VERSION="+version)
		b, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = string(b)
		bin = filepath.Join(dist, "switchboard-"+version+"-linux-amd64")
	}
	if sums[0] != sums[1] || !strings.Contains(sums[0], "  switchboard-"+version+"-linux-amd64\n") {
		t.Errorf("two release builds differ:\n%s\n%s", sums[0], sums[1])
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root)) {
		t.Errorf("the release binary holds this checkout's path %s: -trimpath is not in effect", root)
	}
	if got := runTool(t, time.Minute, "", bin, "-version"); strings.TrimSpace(got) != "switchboard "+version {
		t.Errorf("-version printed %q", got)
	}
	info := runTool(t, time.Minute, "", "go", "version", "-m", bin)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true", "GOOS=linux", "GOARCH=amd64"} {
		if !strings.Contains(info, want) {
			t.Errorf("go version -m: no %s in\n%s", want, info)
		}
	}
}
