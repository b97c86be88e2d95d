package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Deployment places a worker in a Temporal Worker Deployment (Worker
// Versioning): the server sends an order's workflow tasks only to workers of
// the deployment's current build, so a deploy changes the code under running
// orders when the new build is made current, not when a process restarts.
// See docs/versioning.md.
type Deployment struct {
	// Name is the Worker Deployment, the same for every build of this
	// worker; empty runs the worker unversioned.
	Name string
	// BuildID names this build's code within the deployment. Two binaries
	// with different workflow code must never share one.
	BuildID string
	// MakeCurrent makes this build the deployment's current version once the
	// worker polls, for systems with a single worker process (the dev
	// command, compose); a fleet is rolled out with the CLI instead.
	MakeCurrent bool
}

// Versioned reports whether the worker runs under Worker Versioning.
func (d Deployment) Versioned() bool { return d.Name != "" }

// sdkOptions are the SDK's deployment options for d. Orders follow the
// deployment's current build on their next workflow task (AutoUpgrade): an
// order lives 90 days and more, and pinned to its build it would keep every
// build of that time running. The price is that a build must replay the
// orders of the builds before it: a change is patched (docs/versioning.md).
func (d Deployment) sdkOptions() sdkworker.DeploymentOptions {
	if !d.Versioned() {
		return sdkworker.DeploymentOptions{}
	}
	return sdkworker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: d.Name, BuildID: d.BuildID},
		DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
	}
}

// RevisionBuildID is the build ID this binary carries: the git revision it
// was built from (go build stamps it from the checkout). A binary built from a
// modified work tree or outside a checkout has none, since no revision names
// its code.
func RevisionBuildID() (string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("the binary carries no build information")
	}
	var revision, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	switch {
	case revision == "":
		return "", errors.New("the binary carries no VCS revision (built outside a git checkout, with -buildvcs=false, or by go run)")
	case modified == "true":
		return "", fmt.Errorf("the binary was built from a modified work tree of revision %s, which does not name its code", revision)
	}
	return revision, nil
}

// makeCurrentTimeout bounds how long a starting worker waits for the server
// to know its build: a poll or two.
const makeCurrentTimeout = 30 * time.Second

// makeCurrent makes the worker's build the current version of its
// deployment. The server learns of a deployment and its builds from their
// first poll, so until then it answers NotFound; that is retried.
func makeCurrent(ctx context.Context, c client.Client, d Deployment) error {
	ctx, cancel := context.WithTimeout(ctx, makeCurrentTimeout)
	defer cancel()
	handle := c.WorkerDeploymentClient().GetHandle(d.Name)
	for {
		_, err := handle.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: d.BuildID})
		if err == nil {
			return nil
		}
		err = fmt.Errorf("make build %s current in worker deployment %s: %w", d.BuildID, d.Name, err)
		var unknown *serviceerror.NotFound
		if !errors.As(err, &unknown) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// IsCurrent reports whether d's build is its deployment's current version;
// a build that is not receives no orders. A deployment the server does not
// know yet (no worker of it has polled) has no current build.
func (d Deployment) IsCurrent(ctx context.Context, c client.Client) (bool, error) {
	desc, err := c.WorkerDeploymentClient().GetHandle(d.Name).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	var unknown *serviceerror.NotFound
	if errors.As(err, &unknown) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe worker deployment %s: %w", d.Name, err)
	}
	current := desc.Info.RoutingConfig.CurrentVersion
	return current != nil && current.BuildID == d.BuildID, nil
}
