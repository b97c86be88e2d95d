package config

import (
	"strings"

	"github.com/spf13/viper"
)

// DefaultDeploymentName is the Worker Deployment of the termination order
// workers unless configured otherwise.
const DefaultDeploymentName = "termination-orders"

// WorkerDeployment is the worker's place under Worker Versioning
// (docs/versioning.md): its deployment and the ID of its build.
type WorkerDeployment struct {
	// Versioning runs the worker under Worker Versioning: it then receives
	// orders only while its build is the deployment's current version.
	Versioning bool
	Name       string
	// BuildID is empty unless set; the worker then takes its binary's
	// git revision.
	BuildID string
	// MakeCurrent makes the build current when the worker starts, for a
	// system of one worker process.
	MakeCurrent bool
}

var deploymentKeys = []key{
	{"worker.versioning", "versioning", "false", "run under Worker Versioning: the worker gets orders only while its build is the deployment's current version (true or false; docs/versioning.md)", Worker},
	{"worker.deployment_name", "deployment-name", DefaultDeploymentName, "Worker Deployment the worker belongs to, the same for all its builds", Worker},
	{"worker.build_id", "build-id", "", "build ID of this build (default: the git revision the binary was built from; required when it has none)", Worker},
	{"worker.make_current", "make-current", "false", "make this build the deployment's current version on start; for a system with one worker process only (true or false)", Worker},
}

// maxDeploymentField bounds a deployment name and a build ID: the server
// joins them into IDs limited by its limit.maxIDLength (255 in compose).
const maxDeploymentField = 100

func loadDeployment(v *viper.Viper, bad func(name, rule string, args ...any)) WorkerDeployment {
	d := WorkerDeployment{
		Versioning:  boolSetting(v, "worker.versioning", bad),
		Name:        strings.TrimSpace(v.GetString("worker.deployment_name")),
		BuildID:     strings.TrimSpace(v.GetString("worker.build_id")),
		MakeCurrent: boolSetting(v, "worker.make_current", bad),
	}
	if !d.Versioning {
		if d.MakeCurrent {
			bad("worker.make_current", "needs worker.versioning=true")
		}
		return d
	}
	switch {
	case d.Name == "":
		bad("worker.deployment_name", "must not be empty")
	case strings.ContainsAny(d.Name, ".:"):
		bad("worker.deployment_name", "must not contain '.' or ':', got %q", d.Name)
	case strings.HasPrefix(d.Name, "__"):
		bad("worker.deployment_name", "must not start with '__', got %q", d.Name)
	case len(d.Name) > maxDeploymentField:
		bad("worker.deployment_name", "must be at most %d characters, got %d", maxDeploymentField, len(d.Name))
	}
	switch {
	case strings.HasPrefix(d.BuildID, "__"):
		bad("worker.build_id", "must not start with '__', got %q", d.BuildID)
	case len(d.BuildID) > maxDeploymentField:
		bad("worker.build_id", "must be at most %d characters, got %d", maxDeploymentField, len(d.BuildID))
	}
	return d
}

func boolSetting(v *viper.Viper, name string, bad func(name, rule string, args ...any)) bool {
	switch s := strings.ToLower(strings.TrimSpace(v.GetString(name))); s {
	case "true", "1", "yes":
		return true
	case "false", "0", "no", "":
		return false
	default:
		bad(name, "must be true or false, got %q", s)
		return false
	}
}
