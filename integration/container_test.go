package integration

import (
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestContainerImage builds packaging/Containerfile with podman and runs
// the image as an operator would: its user, its volume, its health
// check; then a REST request and a call, and a stop through the drain.
// It runs where podman works and the Go image of the build stage is
// there (PD_GO_IMAGE, default the Containerfile's; no registry is
// reached: podman build --pull=never) and skips elsewhere, CI included.
// PD_PODMAN_RUNTIME names the OCI runtime where podman's default does not
// run on the machine (runc where crun refuses hybrid cgroups).
func TestContainerImage(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed")
	}
	goImage := os.Getenv("PD_GO_IMAGE")
	if goImage == "" {
		goImage = "docker.io/library/golang:1.26-bookworm"
	}
	podman := func(args ...string) *exec.Cmd {
		if rt := os.Getenv("PD_PODMAN_RUNTIME"); rt != "" {
			args = append([]string{"--runtime", rt}, args...)
		}
		return exec.Command("podman", args...)
	}
	if err := podman("image", "exists", goImage).Run(); err != nil {
		t.Skipf("the build stage's image %s is not on this machine (PD_GO_IMAGE names another)", goImage)
	}
	const image = "localhost/phonediversions:integration"
	build := podman("build", "--pull=never", "--format", "docker", "--network", "host", "-f", "packaging/Containerfile",
		"--build-arg", "GO_IMAGE="+goImage, "--build-arg", "VERSION=integration", "-t", image, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { podman("rmi", "-f", image).Run() })
	inspect, err := podman("image", "inspect", image, "--format",
		"{{.Config.User}}|{{json .Config.Healthcheck.Test}}|{{json .Config.Volumes}}|{{json .Config.ExposedPorts}}|{{.Size}}").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimSpace(string(inspect)), "|")
	if f[0] != "10001:10001" || f[1] != `["CMD","/phonediversions","health"]` || !strings.Contains(f[2], `"/data"`) ||
		!strings.Contains(f[3], `"5060/udp"`) || !strings.Contains(f[3], `"8080/tcp"`) {
		t.Errorf("image config: user %s, health check %s, volumes %s, ports %s", f[0], f[1], f[2], f[3])
	}
	t.Logf("image of %s bytes", f[4])

	data := openDir(t)
	os.Chown(data, 10001, 10001)
	httpPort, sipPort := freePort(t), freePort(t)
	var nofile syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	name := "pd-integration-" + strconv.Itoa(os.Getpid())
	run := podman("run", "-d", "--name", name, "--network", "host", "-v", data+":/data",
		"--ulimit", "nofile="+strconv.FormatUint(nofile.Max, 10)+":"+strconv.FormatUint(nofile.Max, 10), "--ulimit", "nproc=4096:4096",
		"-e", "PHONEDIVERSIONS_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort), "-e", "PHONEDIVERSIONS_SIP_ADDR=127.0.0.1",
		"-e", "PHONEDIVERSIONS_SIP_UDP_PORT="+strconv.Itoa(sipPort), "-e", "PHONEDIVERSIONS_SIP_TCP_PORT=-1",
		"-e", "PHONEDIVERSIONS_RTP_ADDR=127.0.0.1", image)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("podman run: %v\n%s", err, out)
	}
	t.Cleanup(func() { podman("rm", "-f", name).Run() })
	healthy := false
	for deadline := time.Now().Add(30 * time.Second); !healthy && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		healthy = podman("healthcheck", "run", name).Run() == nil
	}
	if !healthy {
		logs, _ := podman("logs", name).CombinedOutput()
		t.Fatalf("the container never became healthy:\n%s", logs)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/Rest/"
	group := regexp.MustCompile(`<GroupID>(\d+)</GroupID>`).FindStringSubmatch(post(t, base+"addGroup", url.Values{"groupName": {"Front Desk"}, "destination": {"1022"}}))
	post(t, base+"addLine", url.Values{"groupId": {group[1]}, "lineNumber": {"1001"}})
	post(t, base+"setDiversion", url.Values{"groupId": {group[1]}, "state": {"ON"}})
	r, status := runProbe(t, "--diverted-from", "1001", "sip:1022@127.0.0.1:"+strconv.Itoa(sipPort))
	if status != 0 || r.Announcement == nil || r.HungUpBy != "product" {
		t.Fatalf("a call to the container: exit %d, %+v", status, r)
	}
	for _, file := range []string{"phonediversions.db", "first-admin-password"} {
		fi, err := os.Stat(data + "/" + file)
		if err != nil {
			t.Fatalf("%s not in the volume: %v", file, err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 10001 {
			t.Errorf("%s owned by %d, want the image's user 10001", file, uid)
		}
	}
	if out, err := podman("stop", name).CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	code, _ := podman("inspect", name, "--format", "{{.State.ExitCode}}").Output()
	logs, _ := podman("logs", name).CombinedOutput()
	if strings.TrimSpace(string(code)) != "0" || !strings.Contains(string(logs), `"message":"stopped"`) {
		t.Fatalf("the container did not stop cleanly (exit %s):\n%s", code, logs)
	}
}
