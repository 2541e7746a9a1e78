package installer

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// Service describes the casekeep service for a service manager.
type Service struct {
	// Name is the service's name: "casekeep" for the real one (a test
	// installs one under a name of its own).
	Name string
	// Exec is the absolute path of the executable, and Args its arguments.
	Exec string
	Args []string
	// State is the agent's state folder: the unit lets the agent write it,
	// and the folder beside it for its status file.
	State string
	// Config is the configuration folder: the agent writes it once, to
	// remove a used token from enroll.env. Empty leaves it read-only.
	Config string
	// StopTimeout is how long the service manager waits for the agent to
	// stop before killing it.
	StopTimeout time.Duration
}

// Description is the service's one-line description.
const Description = "casekeep: keeps cached case files encrypted and reports this device's compliance"

// DefaultService is the service a package installs: the program, state and
// stop time of this OS's Default layout, run with no arguments but "run".
func DefaultService() Service {
	l := Default()
	return Service{Name: "casekeep", Exec: l.Program, Args: []string{"run"}, State: l.State, Config: l.Config, StopTimeout: 25 * time.Second}
}

func (s Service) check() error {
	if s.Name == "" || strings.ContainsFunc(s.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		return fmt.Errorf("service name %q: use letters, digits, '-', '_' and '.' only", s.Name)
	}
	if !filepath.IsAbs(s.Exec) && !strings.HasPrefix(s.Exec, "/") {
		return fmt.Errorf("executable %q is not an absolute path", s.Exec)
	}
	if s.State != "" && !strings.HasPrefix(s.State, "/") {
		return fmt.Errorf("state folder %q is not an absolute path", s.State)
	}
	if s.Config != "" && !strings.HasPrefix(s.Config, "/") {
		return fmt.Errorf("configuration folder %q is not an absolute path", s.Config)
	}
	for _, a := range append([]string{s.Exec, s.State, s.Config}, s.Args...) {
		// Refuse what would break a line of a unit file, what XML cannot
		// hold (the plist), or be read by kardianos/service as a template
		// action.
		if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff }) ||
			!utf8.ValidString(a) || strings.Contains(a, "{{") {
			return fmt.Errorf("%q holds a line break, NUL or other control character, invalid UTF-8, or \"{{\"", a)
		}
	}
	if s.StopTimeout <= 0 {
		return errors.New("the stop timeout must be positive")
	}
	return nil
}

// systemdQuote quotes one argument of a unit's command line
// (systemd.service, "Command lines"): in double quotes, with backslash,
// quote and the specifier and variable signs escaped.
func systemdQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

// systemdExec quotes the executable, the first word of a command line:
// like systemdQuote, but systemd substitutes no variables in the
// executable's path, so "$" stays as it is ("$$" would name another file).
func systemdExec(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// systemdPath quotes a path in a space-separated list of paths
// (ReadWritePaths=): systemd splits the list on whitespace and removes
// quotes, but reads no C escapes there (\x20 would be "x20"), then expands
// specifiers.
func systemdPath(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`)
	return `"` + r.Replace(s) + `"`
}

// systemdCondPath escapes a path that is a setting's whole value (a
// condition's): systemd takes it verbatim but for specifiers.
func systemdCondPath(s string) string { return strings.ReplaceAll(s, `%`, `%%`) }

var unitTemplate = template.Must(template.New("unit").Funcs(template.FuncMap{
	"quote": systemdQuote, "exec": systemdExec, "path": systemdPath, "condpath": systemdCondPath,
	"seconds": func(d time.Duration) int { return int(d.Round(time.Second) / time.Second) },
}).Parse(`# casekeep's systemd unit. casekeep service install and the deb and rpm
# packages write the same text (installer.SystemdUnit).
[Unit]
Description={{.Description}}
Documentation=https://github.com/casekeep/casekeep
ConditionFileIsExecutable={{condpath .Exec}}
Wants=network-online.target
After=network-online.target local-fs.target
# Restart for ever: with RestartSec=10 an agent that keeps failing starts
# at most 30 times in 5 minutes, under this limit, which only stops a storm
# of manual restarts.
StartLimitIntervalSec=300
StartLimitBurst=40

[Service]
Type=simple
ExecStart={{exec .Exec}}{{range .Args}} {{quote .}}{{end}}
Restart=always
RestartSec=10
TimeoutStopSec={{seconds .StopTimeout}}
# SIGTERM to the agent only: it stops its helpers itself.
KillMode=mixed
StandardOutput=journal
StandardError=journal
SyslogIdentifier={{.Name}}
UMask=0077
# No core dumps: while the vault is unlocked the agent's memory holds the
# lease key and the device identity (it also turns them off itself).
LimitCORE=0

# Hardening. The agent runs as root because it seals files in users' folders
# and remounts unapproved drives read-only; everything else is taken away.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
# Its own state, and removable drives (quarantine moves case files off them).
# The cache and sweep folders in users' homes are added by the agent, in a
# drop-in under /run/systemd/system/{{.Name}}.service.d/, as the policy names
# them (it restarts itself once to take them up).
ReadWritePaths={{path .State}} {{path .Status}}{{if .Config}} -{{path .Config}}{{end}} -/media -/run/media -/mnt -/run/systemd/system
# CAP_SYS_ADMIN: remount a drive read-only. CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH: read and seal users' files. CAP_FOWNER and CAP_CHOWN:
# give sealed files and quarantined copies back to their owners. CAP_SYS_PTRACE:
# see which programs hold a file open (/proc/PID/fd). CAP_SETUID and CAP_SETGID:
# show a notification as the user at the desktop.
CapabilityBoundingSet=CAP_SYS_ADMIN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_CHOWN CAP_SYS_PTRACE CAP_SETUID CAP_SETGID
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native
# System calls of ordinary services, and mount(2) for the read-only remount.
SystemCallFilter=@system-service @mount
SystemCallErrorNumber=EPERM
PrivateIPC=yes
DevicePolicy=closed

[Install]
WantedBy=multi-user.target
`))

// SystemdUnit returns the systemd unit for s.
func SystemdUnit(s Service) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	if s.State == "" {
		return "", errors.New("the unit needs the state folder")
	}
	if strings.ContainsAny(s.Exec, `"'\`) {
		// systemd refuses to start a unit whose executable's path holds
		// these ("Executable name contains special characters").
		return "", fmt.Errorf("executable %q: systemd runs no program whose path holds a quote or a backslash", s.Exec)
	}
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Service
		Description, Status string
	}{s, Description, filepath.Clean(s.State) + "-status"})
	return b.String(), err
}

var plistTemplate = template.Must(template.New("plist").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{.Label}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{.Exec}}</string>{{range .Args}}
		<string>{{.}}</string>{{end}}
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>5</integer>
	<key>ExitTimeOut</key>
	<integer>{{.Seconds}}</integer>
	<key>ProcessType</key>
	<string>Standard</string>
	<key>StandardOutPath</key>
	<string>/Library/Logs/casekeep.log</string>
	<key>StandardErrorPath</key>
	<string>/Library/Logs/casekeep.log</string>
</dict>
</plist>
`))

// LaunchdLabel is the launchd label of the service named name.
func LaunchdLabel(name string) string { return "uk.casekeep." + name }

// LaunchdPlist returns the LaunchDaemon property list for s, to be
// installed as /Library/LaunchDaemons/<LaunchdLabel>.plist.
func LaunchdPlist(s Service) (string, error) {
	if err := s.check(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	// The fields are XML-escaped here: the template is text/template.
	err := plistTemplate.Execute(&b, struct {
		Label, Exec string
		Args        []string
		Seconds     int
	}{xmlEscape(LaunchdLabel(s.Name)), xmlEscape(s.Exec), xmlEscapeAll(s.Args), int(s.StopTimeout.Round(time.Second) / time.Second)})
	return b.String(), err
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	template.HTMLEscape(&b, []byte(s)) // &, <, >, ', " as XML entities
	return b.String()
}

func xmlEscapeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = xmlEscape(s)
	}
	return out
}

// WritableDropIn returns a systemd drop-in that makes the folders paths
// writable despite ProtectHome=read-only (a missing one is skipped).
func WritableDropIn(paths []string) string {
	var b strings.Builder
	b.WriteString("# Written by the casekeep agent: the folders in users' homes its policy\n# needs to write (the cache, and sweep folders it quarantines from).\n[Service]\n")
	for _, p := range paths {
		if strings.ContainsAny(p, "\n\r\x00") {
			continue
		}
		b.WriteString("ReadWritePaths=-" + systemdPath(p) + "\n")
	}
	return b.String()
}
