package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/casekeep/casekeep/agent"
	"github.com/casekeep/casekeep/agent/state"
	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/atomicfile"
	"github.com/casekeep/casekeep/internal/cli"
	"github.com/casekeep/casekeep/internal/wire"
)

// serviceFlags are the flags every service subcommand takes.
type serviceFlags struct {
	name, program, config, state *string
}

func addServiceFlags(e *cli.Env) serviceFlags {
	d := installer.Default()
	return serviceFlags{
		name:    e.Flags.String("name", "casekeep", "the service's `NAME` (tests install under another)"),
		program: e.Flags.String("program", d.Program, "where the program is installed (`PATH`)"),
		config:  e.Flags.String("config", d.Config, "the configuration `DIR`"),
		state:   e.Flags.String("state", d.State, "the agent's state `DIR`"),
	}
}

// parse parses the command line (no arguments but flags) and returns the
// installation it describes, as layout does.
func (f serviceFlags) parse(e *cli.Env, args []string) (installer.Layout, []string, error) {
	if _, err := e.Parse(args, 0, 0); err != nil {
		return installer.Layout{}, nil, err
	}
	return f.layout()
}

// layout is the installation these flags describe, and the arguments the
// service runs the program with.
func (f serviceFlags) layout() (installer.Layout, []string, error) {
	var l installer.Layout
	var err error
	if l.Program, err = filepath.Abs(*f.program); err != nil {
		return l, nil, err
	}
	if l.Config, err = filepath.Abs(*f.config); err != nil {
		return l, nil, err
	}
	if l.State, err = filepath.Abs(*f.state); err != nil {
		return l, nil, err
	}
	args := []string{"run"}
	d := installer.Default()
	if l.Config != d.Config {
		args = append(args, "--config", l.Config)
	}
	if l.State != d.State {
		args = append(args, "--state", l.State)
	}
	return l, args, nil
}

func serviceCommand() *cli.Command {
	return &cli.Command{
		Name:    "service",
		Summary: "install, start, stop or remove the casekeep service",
		Help: `Service installs casekeep as this computer's service (systemd on Linux,
launchd on macOS, the service manager on Windows), and starts, stops, restarts,
removes it or shows its state. All but status need root or an administrator.

The deb, rpm and MSI packages install the same service; these commands are for
installing by hand and for IT technicians.`,
		Sub: []*cli.Command{serviceInstallCommand(), serviceUninstallCommand(),
			serviceActionCommand("start", "start the service"), serviceStopCommand(),
			serviceActionCommand("restart", "restart the service"), serviceStatusCommand(), serviceRecoveryCommand()},
	}
}

func serviceInstallCommand() *cli.Command {
	return &cli.Command{
		Name: "install", Args: "[--server URL --token TOKEN] [--no-start]",
		Summary: "install this program as the casekeep service, and start it",
		Help: `Install copies this program to --program, creates the configuration and state
folders (which only root/SYSTEM can write; the state only root/SYSTEM can
read), registers the service to start with the computer and restart whenever
it stops on its own, and starts it.

With --server and --token (or CASEKEEP_ENROLL_TOKEN, which ps does not show)
it writes them to enroll.env in the configuration folder, readable by
root/SYSTEM only; the service enrolls with them on its first start (retrying
while the server cannot be reached) and then removes the token from the file.
Without them, the service waits for IT to write that file.`,
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			server := e.Flags.String("server", "", "the casekeep server's `URL`, to enroll with on first start")
			token := e.Flags.String("token", "", "the enrollment `TOKEN`")
			noStart := e.Flags.Bool("no-start", false, "install, but do not start the service")
			l, runArgs, err := f.parse(e, args)
			if err != nil {
				return err
			}
			if *token == "" {
				*token = os.Getenv("CASEKEEP_ENROLL_TOKEN")
			}
			if (*server == "") != (*token == "") {
				return cli.Usagef("--server and --token go together")
			}
			if *server != "" {
				if err := installer.CheckServerURL(*server); err != nil {
					return cli.Usagef("--server: %v", err)
				}
			}
			if err := needAdmin(); err != nil {
				return err
			}
			if err := installer.PrepareConfig(l.Config); err != nil {
				return err
			}
			if err := state.Prepare(l.State); err != nil {
				return err
			}
			// The status file's folder: the unit names it writable, so it
			// must exist before the service starts.
			if err := os.MkdirAll(agent.StatusDir(l.State), 0o755); err != nil {
				return err
			}
			if *server != "" {
				if err := installer.WriteEnrollEnv(l.EnrollEnv(), installer.EnrollEnv{Server: *server, Token: *token}); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "wrote %s: the service enrolls with %s on its first start\n", l.EnrollEnv(), *server)
			}
			if err := installProgram(l.Program); err != nil {
				return err
			}
			if err := control(*f.name, l, runArgs, "install"); err != nil {
				return fmt.Errorf("installing the service: %w", err)
			}
			fmt.Fprintf(e.Stdout, "installed the %s service: %s\n", *f.name, l.Program)
			if *noStart {
				return nil
			}
			if err := control(*f.name, l, runArgs, "start"); err != nil {
				return fmt.Errorf("starting the service: %w", err)
			}
			fmt.Fprintf(e.Stdout, "started the %s service\n", *f.name)
			return nil
		},
	}
}

// installProgram copies this executable to path, unless it is that file.
func installProgram(path string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return err
	}
	if a, err1 := os.Stat(self); err1 == nil {
		if b, err2 := os.Stat(path); err2 == nil && os.SameFile(a, b) {
			return nil
		}
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o755); err != nil {
		return fmt.Errorf("installing the program as %s: %w", path, err)
	}
	return nil
}

func serviceUninstallCommand() *cli.Command {
	return &cli.Command{
		Name: "uninstall", Args: "[--purge]",
		Summary: "stop and remove the casekeep service",
		Help: `Uninstall tells the server that casekeep is being removed (the agent's last
heartbeat says so), stops the service and removes it. The configuration and
the state (the device's keys, its index and what waits to be sent) are kept,
so a reinstall carries on as the same device, unless --purge is given: then
they and the installed program are removed too. Sealed files in the cache stay
sealed; the council's escrow keys can still open them.

For a casekeep installed from the deb, rpm or MSI, remove the package instead
(apt remove casekeep, dnf remove casekeep, msiexec /x): it does the same.`,
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			purge := e.Flags.Bool("purge", false, "also remove the configuration, the state and the program")
			l, runArgs, err := f.parse(e, args)
			if err != nil {
				return err
			}
			if err := needAdmin(); err != nil {
				return err
			}
			st, err := serviceState(*f.name, l)
			if err != nil {
				return err
			}
			if st == "not installed" {
				return fmt.Errorf("the %s service is not installed", *f.name)
			}
			if st == "running" {
				if err := stopService(*f.name, l, runArgs, wire.StopUninstall); err != nil {
					return err
				}
			}
			if err := control(*f.name, l, runArgs, "uninstall"); err != nil {
				return fmt.Errorf("removing the service: %w", err)
			}
			fmt.Fprintf(e.Stdout, "removed the %s service\n", *f.name)
			if !*purge {
				fmt.Fprintf(e.Stdout, "kept %s and %s (--purge removes them)\n", l.Config, l.State)
				return nil
			}
			for _, p := range []string{l.Config, l.State, agent.StatusDir(l.State)} {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
			}
			if err := os.Remove(l.Program); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			fmt.Fprintf(e.Stdout, "removed %s, %s and %s\n", l.Config, l.State, l.Program)
			return nil
		},
	}
}

// stopService stops the service, first recording why, so the agent's last
// heartbeat can say it.
func stopService(name string, l installer.Layout, runArgs []string, reason string) error {
	if err := agent.RecordStopReason(l.State, reason); err != nil {
		return fmt.Errorf("recording why the service stops: %w", err)
	}
	if err := control(name, l, runArgs, "stop"); err != nil {
		agent.ClearStopReason(l.State)
		return fmt.Errorf("stopping the service: %w", err)
	}
	return nil
}

func serviceStopCommand() *cli.Command {
	return &cli.Command{
		Name: "stop", Args: "[--reason stop|uninstall]",
		Summary: "stop the service (the server is told)",
		Help: `Stop stops the service. The agent finishes or rolls back a seal in progress and
tells the server it is stopping, and why: --reason uninstall (used by the
package scripts before they remove casekeep) says it is being removed.`,
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			reason := e.Flags.String("reason", wire.StopService, "why: stop or uninstall")
			l, runArgs, err := f.parse(e, args)
			if err != nil {
				return err
			}
			if !slices.Contains([]string{wire.StopService, wire.StopUninstall}, *reason) {
				return cli.Usagef("--reason is stop or uninstall, not %q", *reason)
			}
			if err := needAdmin(); err != nil {
				return err
			}
			if err := stopService(*f.name, l, runArgs, *reason); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "stopped the %s service\n", *f.name)
			return nil
		},
	}
}

func serviceActionCommand(action, summary string) *cli.Command {
	return &cli.Command{
		Name: action, Summary: summary,
		Help: fmt.Sprintf("%s%s the casekeep service.", string(action[0]-'a'+'A'), action[1:]+"s"),
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			l, runArgs, err := f.parse(e, args)
			if err != nil {
				return err
			}
			if err := needAdmin(); err != nil {
				return err
			}
			if err := control(*f.name, l, runArgs, action); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "%s: done\n", action)
			return nil
		},
	}
}

func serviceStatusCommand() *cli.Command {
	return &cli.Command{
		Name: "status", Summary: "show whether the service is installed and running",
		Help: "Status says whether the casekeep service is installed and running. It exits 1 unless it runs.",
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			l, _, err := f.parse(e, args)
			if err != nil {
				return err
			}
			st, err := serviceState(*f.name, l)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "the %s service is %s\n", *f.name, st)
			if st != "running" {
				return fmt.Errorf("the %s service is not running", *f.name)
			}
			return nil
		},
	}
}

// needAdmin refuses to go on without root or an administrator.
func needAdmin() error {
	if isAdmin() {
		return nil
	}
	if runtime.GOOS == "windows" {
		return errors.New("this needs an administrator: run it from an elevated prompt")
	}
	return errors.New("this needs root: run it with sudo")
}

func serviceRecoveryCommand() *cli.Command {
	return &cli.Command{
		Name: "recovery", Summary: "set the Windows service's recovery actions (the MSI runs it)",
		Help: `Recovery sets what the Windows service manager does when the agent stops on
its own: restart it after 5 s, 30 s, then 60 s, also when it exits with an
error rather than crashing. The MSI runs it after installing the service, and
the service sets them itself at every start. Elsewhere it does nothing: the
systemd unit and the launchd daemon restart the agent themselves.`,
		Run: func(e *cli.Env, args []string) error {
			f := addServiceFlags(e)
			if _, err := e.Parse(args, 0, 0); err != nil {
				return err
			}
			if err := needAdmin(); err != nil {
				return err
			}
			return installer.SetRecovery(*f.name)
		},
	}
}
