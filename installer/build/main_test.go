package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casekeep/casekeep/installer"
	"github.com/casekeep/casekeep/internal/testenv"
)

const (
	testVersion = "1.2.3"
	upgradeCode = "{6A3D0B4E-2C51-4E7A-9B0F-5D8C1E2A7F40}"
)

// The packages are built once per test binary: building them compiles the
// agent for three systems.
var build struct {
	once sync.Once
	dir  string
	msi  bool // whether the MSI was built (wixl is installed)
	took time.Duration
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// built builds every package (the MSI only if wixl is installed) and
// returns the output folder.
func built(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: building the packages compiles the agent three times")
	}
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "casekeep-build-test")
		if build.err != nil {
			return
		}
		only := "deb,rpm,macos"
		if _, err := exec.LookPath("wixl"); err == nil {
			only += ",msi"
			build.msi = true
		}
		start := time.Now()
		build.err = run([]string{"-version", testVersion, "-out", build.dir, "-only", only})
		build.took = time.Since(start)
		fmt.Fprintf(os.Stderr, "built %s in %s\n", only, build.took.Round(100*time.Millisecond))
	})
	if build.err != nil {
		t.Fatalf("building the packages: %v", build.err)
	}
	return build.dir
}

// one returns the single file in dir matching pattern.
func one(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s in %s: %q, %v; want exactly one", pattern, dir, m, err)
	}
	return m[0]
}

// tool returns the path of a command the test needs, or skips (fails
// under CI) without it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Unavailable(t, "%s is not installed (apt-get install %s)", name, pkg)
	}
	return p
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// packagedUnit is the unit the deb and rpm must carry: the one
// casekeep service install writes on Linux.
func packagedUnit(t *testing.T) string {
	t.Helper()
	s := installer.DefaultService()
	if runtime.GOOS != "linux" {
		s.Exec, s.State = "/usr/bin/casekeep", "/var/lib/casekeep"
	}
	if s.Exec != "/usr/bin/casekeep" || s.State != "/var/lib/casekeep" {
		t.Fatalf("DefaultService on linux is %+v", s)
	}
	unit, err := installer.SystemdUnit(s)
	if err != nil {
		t.Fatal(err)
	}
	return unit
}

// tarEntries reads a tar stream into name -> header and content.
func tarEntries(t *testing.T, r io.Reader) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, b
	}
}

func TestDeb(t *testing.T) {
	dir := built(t)
	dpkgDeb := tool(t, "dpkg-deb", "dpkg")
	deb := one(t, dir, "casekeep_"+testVersion+"*_amd64.deb")

	// ./var/lib/casekeep/ -> drwx------
	listing := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(output(t, dpkgDeb, "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: %q", line)
		}
		if f[1] != "root/root" {
			t.Errorf("%s is owned by %s, want root/root", f[5], f[1])
		}
		listing[f[5]] = f[0]
	}
	for path, mode := range map[string]string{
		"./usr/bin/casekeep":                    "-rwxr-xr-x",
		"./lib/systemd/system/casekeep.service": "-rw-r--r--",
		"./etc/casekeep/":                       "drwxr-xr-x",
		"./var/lib/casekeep/":                   "drwx------",
		"./var/lib/casekeep-status/":            "drwxr-xr-x",
	} {
		if got, ok := listing[path]; !ok {
			t.Errorf("the deb lacks %s:\n%v", path, listing)
		} else if got != mode {
			t.Errorf("%s is %s, want %s", path, got, mode)
		}
	}
	if _, ok := listing["./etc/casekeep/enroll.env"]; ok {
		t.Error("the deb ships an enroll.env (IT supplies it; a packaged one would be a conffile)")
	}

	info := output(t, dpkgDeb, "-I", deb)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`(?m)\s\*?\s*` + s + `\s`).MatchString(info) {
			t.Errorf("dpkg-deb -I lists no %s:\n%s", s, info)
		}
	}
	for field, want := range map[string]string{"Package": "casekeep", "Version": testVersion + "-1", "Architecture": "amd64"} {
		if got := strings.TrimSpace(output(t, dpkgDeb, "-f", deb, field)); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}

	// The maintainer scripts are the repository's, executable.
	ctrl := t.TempDir()
	output(t, dpkgDeb, "-e", deb, ctrl)
	for script, src := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
		got, err := os.ReadFile(filepath.Join(ctrl, script))
		if err != nil {
			t.Error(err)
			continue
		}
		want, err := os.ReadFile(filepath.Join("..", "scripts", src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("the deb's %s is not installer/scripts/%s", script, src)
		}
		if fi, err := os.Stat(filepath.Join(ctrl, script)); err != nil || fi.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s is not executable: %v", script, err)
		}
	}

	tarball, err := exec.Command(dpkgDeb, "--fsys-tarfile", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := tarEntries(t, bytes.NewReader(tarball))
	if got, want := string(data["./lib/systemd/system/casekeep.service"]), packagedUnit(t); got != want {
		t.Errorf("the deb's unit is not installer.SystemdUnit(DefaultService()):\n%s\nwant:\n%s", got, want)
	}
	bin := data["./usr/bin/casekeep"]
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/usr/bin/casekeep is not ELF: %v", err)
	}
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("/usr/bin/casekeep is for %v", f.Machine)
	}
	if h := hdrs["./usr/bin/casekeep"]; h == nil || h.Uid != 0 || h.Gid != 0 {
		t.Errorf("/usr/bin/casekeep: %+v", h)
	}
}

func TestScriptsParse(t *testing.T) {
	sh := tool(t, "sh", "dash")
	scripts, _ := filepath.Glob(filepath.Join("..", "scripts", "*.sh"))
	if len(scripts) < 4 {
		t.Fatalf("scripts: %q", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}

func TestRPM(t *testing.T) {
	dir := built(t)
	rpmCmd := tool(t, "rpm", "rpm")
	rpm := one(t, dir, "casekeep-"+testVersion+"-1.x86_64.rpm")
	files := strings.Fields(output(t, rpmCmd, "-qlp", rpm))
	for _, want := range []string{"/usr/bin/casekeep", "/usr/lib/systemd/system/casekeep.service", "/etc/casekeep", "/var/lib/casekeep", "/var/lib/casekeep-status"} {
		if !slices.Contains(files, want) {
			t.Errorf("rpm -qlp lists no %s: %q", want, files)
		}
	}
	if got := output(t, rpmCmd, "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}", rpm); got != "casekeep "+testVersion+" 1 x86_64" {
		t.Errorf("rpm -qp: %q", got)
	}
	scripts := output(t, rpmCmd, "-qp", "--scripts", rpm)
	for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet"} {
		if !strings.Contains(scripts, s) {
			t.Errorf("rpm --scripts has no %s:\n%s", s, scripts)
		}
	}
	// The unit: rpm2cpio is not always there, but the dump gives modes.
	dump := output(t, rpmCmd, "-qp", "--dump", rpm)
	for _, line := range strings.Split(dump, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[0] == "/var/lib/casekeep" {
			if m, err := strconv.ParseUint(f[4], 8, 32); err != nil || m&0o777 != 0o700 {
				t.Errorf("/var/lib/casekeep has mode %s, want 0700", f[4])
			}
		}
	}
}

// msiTable is a table exported by msiinfo: its rows as column -> value.
func msiTable(t *testing.T, msiinfo, msi, table string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(output(t, msiinfo, "export", msi, table), "\r\n", "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: %q", table, lines)
	}
	cols := strings.Split(lines[0], "\t")
	var rows []map[string]string
	for _, line := range lines[3:] {
		if line == "" {
			continue
		}
		vals := strings.Split(line, "\t")
		if len(vals) != len(cols) {
			t.Fatalf("%s: row %q has %d columns, want %d", table, line, len(vals), len(cols))
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// index keys a table's rows by one column.
func index(rows []map[string]string, col string) map[string]map[string]string {
	m := map[string]map[string]string{}
	for _, r := range rows {
		m[r[col]] = r
	}
	return m
}

func needMSI(t *testing.T) (dir, msiinfo string) {
	t.Helper()
	if _, err := exec.LookPath("wixl"); err != nil {
		testenv.Unavailable(t, "wixl is not installed (apt-get install wixl)")
	}
	msiinfo = tool(t, "msiinfo", "msitools")
	dir = built(t)
	if !build.msi {
		t.Fatal("wixl is installed but the MSI was not built")
	}
	return dir, msiinfo
}

func TestMSI(t *testing.T) {
	dir, msiinfo := needMSI(t)
	msi := one(t, dir, "casekeep-"+testVersion+"-x64.msi")

	tables := strings.Fields(output(t, msiinfo, "tables", msi))
	for _, want := range []string{"File", "Component", "ServiceInstall", "ServiceControl", "Property", "CustomAction", "Upgrade", "InstallExecuteSequence"} {
		if !slices.Contains(tables, want) {
			t.Errorf("no %s table: %q", want, tables)
		}
	}

	props := index(msiTable(t, msiinfo, msi, "Property"), "Property")
	for name, want := range map[string]string{
		"SERVER_URL": "none", "ENROLL_TOKEN": "none", "UpgradeCode": upgradeCode,
		"ProductVersion": testVersion, "ProductName": "casekeep",
	} {
		if r, ok := props[name]; !ok || r["Value"] != want {
			t.Errorf("Property %s: %v, want %q", name, r, want)
		}
	}
	// The token must not be logged.
	if hidden := props["MsiHiddenProperties"]["Value"]; !slices.Contains(strings.Split(hidden, ";"), "ENROLL_TOKEN") {
		t.Errorf("MsiHiddenProperties=%q does not hide ENROLL_TOKEN", hidden)
	}
	if !regexp.MustCompile(`^\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$`).MatchString(props["ProductCode"]["Value"]) {
		t.Errorf("ProductCode=%q", props["ProductCode"]["Value"])
	}

	svc := msiTable(t, msiinfo, msi, "ServiceInstall")
	if len(svc) != 1 {
		t.Fatalf("ServiceInstall rows: %v", svc)
	}
	for col, want := range map[string]string{
		"Name": "casekeep", "StartType": "2", "StartName": "LocalSystem", "Arguments": "[SERVICE_ARGS]",
		"ServiceType": "16", // own process
	} {
		if svc[0][col] != want {
			t.Errorf("ServiceInstall %s=%q, want %q", col, svc[0][col], want)
		}
	}
	ctl := msiTable(t, msiinfo, msi, "ServiceControl")
	if len(ctl) != 1 || ctl[0]["Name"] != "casekeep" {
		t.Fatalf("ServiceControl: %v", ctl)
	}
	// Start on install (1), stop on install (2) and uninstall (32), delete
	// on uninstall (128).
	if ev, _ := strconv.Atoi(ctl[0]["Event"]); ev&(1|2|32|128) != 1|2|32|128 {
		t.Errorf("ServiceControl Event=%d", ev)
	}

	files := index(msiTable(t, msiinfo, msi, "File"), "File")
	if f, ok := files["casekeep.exe"]; !ok || f["FileName"] != "casekeep.exe" && !strings.HasSuffix(f["FileName"], "|casekeep.exe") {
		t.Errorf("File casekeep.exe: %v", f)
	}

	// The configuration and state folders are made by the installer,
	// before a user could make them in ProgramData.
	dirs := index(msiTable(t, msiinfo, msi, "Directory"), "Directory")
	folders := index(msiTable(t, msiinfo, msi, "CreateFolder"), "Directory_")
	for id, name := range map[string]string{"CONFIGDIR": "config", "STATEDIR": "state"} {
		if _, ok := folders[id]; !ok || dirs[id]["DefaultDir"] != name || dirs[dirs[id]["Directory_Parent"]]["Directory_Parent"] != "CommonAppDataFolder" {
			t.Errorf("the MSI does not create ProgramData\\casekeep\\%s: CreateFolder %v, Directory %v", name, folders, dirs[id])
		}
	}

	actions := index(msiTable(t, msiinfo, msi, "CustomAction"), "Action")
	for _, a := range []string{"SetServiceArgs", "SetRecovery", "SayUninstall"} {
		if _, ok := actions[a]; !ok {
			t.Errorf("no custom action %s: %v", a, actions)
		}
	}
	if tgt := actions["SetServiceArgs"]["Target"]; !strings.Contains(tgt, "[SERVER_URL]") || !strings.Contains(tgt, "--token") {
		t.Errorf("SetServiceArgs sets %q", tgt)
	}

	t.Run("sequence", func(t *testing.T) { checkSequence(t, msiinfo, msi) })

	t.Run("upgrade", func(t *testing.T) {
		rows := msiTable(t, msiinfo, msi, "Upgrade")
		var prev, newer map[string]string
		for _, r := range rows {
			if r["UpgradeCode"] != upgradeCode {
				t.Errorf("Upgrade row for %s", r["UpgradeCode"])
			}
			switch r["ActionProperty"] {
			case "PREVIOUSFOUND":
				prev = r
			case "NEWERFOUND":
				newer = r
			}
		}
		if prev == nil || newer == nil {
			t.Fatalf("Upgrade: %v", rows)
		}
		const onlyDetect, minInclusive, maxInclusive = 2, 256, 512
		if a, _ := strconv.Atoi(newer["Attributes"]); a&onlyDetect == 0 || a&minInclusive != 0 || newer["VersionMin"] != testVersion {
			t.Errorf("NEWERFOUND row %v: want only-detect, versions above %s", newer, testVersion)
		}
		// A rebuilt MSI of the same version (a new ProductCode) must replace
		// the installed one: neither row would find it, and it would be
		// installed beside it, with a second casekeep service.
		a, _ := strconv.Atoi(prev["Attributes"])
		if a&onlyDetect != 0 || a&minInclusive == 0 || prev["VersionMin"] != "0.0.0" {
			t.Errorf("PREVIOUSFOUND row %v", prev)
		}
		if prev["VersionMax"] != "" && !(prev["VersionMax"] == testVersion && a&maxInclusive != 0) {
			t.Errorf("PREVIOUSFOUND row %v leaves out version %s itself (Attributes lacks %d, IncludeMaximum)", prev, testVersion, maxInclusive)
		}
	})

	t.Run("rebuild", func(t *testing.T) {
		out := t.TempDir()
		if err := run([]string{"-version", testVersion, "-out", out, "-only", "msi"}); err != nil {
			t.Fatal(err)
		}
		again := index(msiTable(t, msiinfo, one(t, out, "*.msi"), "Property"), "Property")
		if again["UpgradeCode"]["Value"] != upgradeCode {
			t.Errorf("the second build's UpgradeCode is %q", again["UpgradeCode"]["Value"])
		}
		if again["ProductCode"]["Value"] == props["ProductCode"]["Value"] {
			t.Errorf("two builds share the ProductCode %s", props["ProductCode"]["Value"])
		}
		// wixl has placed Before= actions differently from one build to the
		// next: check this build's sequence too.
		checkSequence(t, msiinfo, one(t, out, "*.msi"))
	})
}

// checkSequence checks where the custom actions run in the MSI's
// InstallExecuteSequence.
func checkSequence(t *testing.T, msiinfo, msi string) {
	t.Helper()
	actions := index(msiTable(t, msiinfo, msi, "CustomAction"), "Action")
	seq := index(msiTable(t, msiinfo, msi, "InstallExecuteSequence"), "Action")
	at := func(a string) int {
		t.Helper()
		r, ok := seq[a]
		if !ok {
			t.Fatalf("InstallExecuteSequence has no %s", a)
		}
		n, err := strconv.Atoi(r["Sequence"])
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		return n
	}
	// A deferred custom action runs from the install script: sequenced
	// outside InstallInitialize..InstallFinalize, Windows Installer fails
	// with error 2762 when its condition holds (SayUninstall: on every
	// uninstall).
	for name, a := range actions {
		typ, _ := strconv.Atoi(a["Type"])
		if typ&0x400 == 0 {
			continue
		}
		if n := at(name); n <= at("InstallInitialize") || n >= at("InstallFinalize") {
			t.Errorf("deferred custom action %s is at %d, outside InstallInitialize (%d) .. InstallFinalize (%d)",
				name, n, at("InstallInitialize"), at("InstallFinalize"))
		}
	}
	if at("SayUninstall") >= at("StopServices") {
		t.Errorf("SayUninstall (%d) runs after StopServices (%d): the agent is already stopped", at("SayUninstall"), at("StopServices"))
	}
	if at("SetServiceArgs") >= at("InstallServices") {
		t.Errorf("SetServiceArgs (%d) runs after InstallServices (%d)", at("SetServiceArgs"), at("InstallServices"))
	}
	if at("SetRecovery") <= at("StartServices") {
		t.Errorf("SetRecovery (%d) runs before StartServices (%d)", at("SetRecovery"), at("StartServices"))
	}
	// The older version goes before anything is installed.
	if at("RemoveExistingProducts") > at("InstallInitialize") {
		t.Errorf("RemoveExistingProducts (%d) runs after InstallInitialize (%d)", at("RemoveExistingProducts"), at("InstallInitialize"))
	}
}

func TestMacPayload(t *testing.T) {
	dir := built(t)
	name := "casekeep-" + testVersion + "-macos-amd64"
	f, err := os.Open(filepath.Join(dir, name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := tarEntries(t, gz)
	want := map[string]int64{
		"payload/usr/local/bin/casekeep":                           0o755,
		"payload/Library/LaunchDaemons/uk.casekeep.casekeep.plist": 0o644,
		"scripts/postinstall":                                      0o755,
		"BUILD-PKG.txt":                                            0o644,
	}
	for p, mode := range want {
		h, ok := hdrs[name+"/"+p]
		if !ok {
			t.Errorf("the tarball lacks %s/%s", name, p)
			continue
		}
		if h.Mode != mode || h.Uname != "root" || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: mode %o, owner %s, type %c", p, h.Mode, h.Uname, h.Typeflag)
		}
		// The folder beside the tarball holds the same.
		onDisk, err := os.ReadFile(filepath.Join(dir, name, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(onDisk, data[name+"/"+p]) {
			t.Errorf("%s on disk differs from the tarball: %v", p, err)
		}
	}
	if len(hdrs) != len(want) {
		t.Errorf("the tarball holds %d entries, want %d", len(hdrs), len(want))
	}
	for n := range hdrs {
		if !strings.HasPrefix(n, name+"/") || strings.Contains(n, "..") {
			t.Errorf("entry %q is outside %s/", n, name)
		}
	}

	m, err := macho.NewFile(bytes.NewReader(data[name+"/payload/usr/local/bin/casekeep"]))
	if err != nil {
		t.Fatalf("the program is not Mach-O: %v", err)
	}
	if m.Cpu != macho.CpuAmd64 {
		t.Errorf("the program is for %v", m.Cpu)
	}

	plist := string(data[name+"/payload/Library/LaunchDaemons/uk.casekeep.casekeep.plist"])
	if err := xml.NewDecoder(strings.NewReader(plist)).Decode(new(struct{})); err != nil {
		t.Errorf("the plist is not XML: %v", err)
	}
	for _, s := range []string{"<string>uk.casekeep.casekeep</string>", "<string>/usr/local/bin/casekeep</string>", "<key>KeepAlive</key>"} {
		if !strings.Contains(plist, s) {
			t.Errorf("the plist lacks %s:\n%s", s, plist)
		}
	}

	howto := string(data[name+"/BUILD-PKG.txt"])
	if !strings.Contains(howto, "pkgbuild --root payload --scripts scripts --identifier uk.casekeep.casekeep --version "+testVersion) {
		t.Errorf("BUILD-PKG.txt has no pkgbuild command:\n%s", howto)
	}
	post, err := os.ReadFile(filepath.Join("..", "scripts", "macos-postinstall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[name+"/scripts/postinstall"], post) {
		t.Error("scripts/postinstall is not installer/scripts/macos-postinstall.sh")
	}
}

func TestBadFlags(t *testing.T) {
	out := t.TempDir()
	for _, args := range [][]string{
		{"-version", "1.2"},
		{"-version", "v1.2.3"},
		{"-version", "1.2.3; rm -rf /"},
		{"-version", "1.2.3\n"},
		{"-version", ""},
		{"-only", "foo"},
		{"-only", "deb,foo"},
		{"-only", ""},
		{"-arch", "sparc"},
		{"-arch", "amd64,386"},
		{"-nosuchflag"},
		{"extra"},
	} {
		args = append(args, "-out", filepath.Join(out, "x"))
		if err := run(args); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused runs wrote %d entries", len(entries))
	}
}

func TestMSIVersion(t *testing.T) {
	for in, want := range map[string]string{"1.2.3": "1.2.3", "1.2.3-rc.1": "1.2.3", "10.20.30+build": "10.20.30"} {
		if got := msiVersion(in); got != want {
			t.Errorf("msiVersion(%q)=%q, want %q", in, got, want)
		}
	}
}

// TestDebInstallRemove installs the deb for real: only when asked
// (CASEKEEP_TEST_INSTALL=1), as root, with dpkg, on a machine that can be
// changed.
func TestDebInstallRemove(t *testing.T) {
	if os.Getenv("CASEKEEP_TEST_INSTALL") != "1" {
		t.Skip("installs casekeep on this machine: set CASEKEEP_TEST_INSTALL=1 (on a disposable machine, as root) to run it")
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "CASEKEEP_TEST_INSTALL=1 needs root")
	}
	dpkg := tool(t, "dpkg", "dpkg")
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "casekeep").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Fatalf("casekeep is already installed here (%s): this test will not touch it", out)
	}
	for _, p := range []string{"/etc/casekeep", "/var/lib/casekeep", "/var/lib/casekeep-status", "/usr/bin/casekeep"} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists although casekeep is not installed: this test will not touch it", p)
		}
	}
	deb := one(t, built(t), "casekeep_"+testVersion+"*_amd64.deb")

	const (
		unit  = "/lib/systemd/system/casekeep.service"
		wants = "/etc/systemd/system/multi-user.target.wants/casekeep.service"
		state = "/var/lib/casekeep"
		env   = "/etc/casekeep/enroll.env"
	)
	t.Cleanup(func() {
		if out, err := exec.Command(dpkg, "-P", "casekeep").CombinedOutput(); err != nil {
			t.Logf("cleanup: dpkg -P casekeep: %v\n%s", err, out)
		}
		for _, p := range []string{"/etc/casekeep", state, state + "-status"} {
			os.RemoveAll(p)
		}
	})
	dpkgDo := func(args ...string) {
		t.Helper()
		out, err := exec.Command(dpkg, args...).CombinedOutput()
		t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("dpkg %s: %v", strings.Join(args, " "), err)
		}
	}
	exists := func(p string) bool {
		_, err := os.Lstat(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}

	// IT drops the enrollment file before the package, world-readable by
	// mistake: the postinst makes it root's only.
	if err := os.MkdirAll("/etc/casekeep", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte("CASEKEEP_SERVER=https://casekeep.example.gov.uk\nCASEKEEP_ENROLL_TOKEN=secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	dpkgDo("-i", deb)
	listed := strings.Fields(output(t, "dpkg", "-L", "casekeep"))
	for _, p := range []string{"/usr/bin/casekeep", unit, "/etc/casekeep", state, state + "-status"} {
		if !slices.Contains(listed, p) {
			t.Errorf("dpkg -L casekeep lists no %s: %q", p, listed)
		}
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v; want 0700", state, fi.Mode(), err)
	}
	if fi, err := os.Stat(env); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s after the postinst: %v, %v; want 0600", env, fi.Mode(), err)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command(sa, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	} else {
		t.Log("no systemd-analyze: the installed unit is not verified")
	}
	_, haveSystemctl := exec.LookPath("systemctl")
	if haveSystemctl == nil {
		if target, err := os.Readlink(wants); err != nil {
			t.Errorf("the postinst did not enable the service: %v", err)
		} else if target != unit && target != "/usr"+unit {
			t.Errorf("%s -> %s", wants, target)
		} else {
			t.Logf("the postinst enabled the service: %s -> %s", wants, target)
		}
	}
	if out, err := exec.Command("/usr/bin/casekeep", "--help").CombinedOutput(); err != nil && !strings.Contains(string(out), "casekeep") {
		t.Errorf("the installed program does not run: %v\n%s", err, out)
	}

	// What the agent would have written: kept by an upgrade and a removal,
	// gone only with a purge.
	if err := os.WriteFile(filepath.Join(state, "device.key"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	dpkgDo("-i", deb) // a reinstall runs the upgrade paths of the scripts
	if !exists(filepath.Join(state, "device.key")) {
		t.Error("a reinstall lost the state")
	}
	if haveSystemctl == nil && !exists(wants) {
		t.Error("a reinstall disabled the service")
	}

	dpkgDo("-r", "casekeep")
	if exists(unit) {
		t.Errorf("%s is still there after dpkg -r", unit)
	}
	if exists(wants) {
		t.Errorf("%s is still there after dpkg -r", wants)
	}
	if exists("/usr/bin/casekeep") {
		t.Error("/usr/bin/casekeep is still there after dpkg -r")
	}
	if !exists(filepath.Join(state, "device.key")) {
		t.Errorf("dpkg -r removed the state in %s", state)
	}
	if !exists(env) {
		t.Errorf("dpkg -r removed %s", env)
	}

	dpkgDo("-P", "casekeep")
	for _, p := range []string{state, state + "-status", "/etc/casekeep"} {
		if exists(p) {
			t.Errorf("%s is still there after dpkg -P", p)
		}
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "casekeep").CombinedOutput(); err == nil && strings.Contains(string(out), "installed") {
		t.Errorf("after dpkg -P: %s", out)
	}
}
