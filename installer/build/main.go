package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager

	"github.com/casekeep/casekeep/installer"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
}

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([-+~][0-9A-Za-z.+~-]*)?$`)

func run(args []string) error {
	fl := flag.NewFlagSet("build", flag.ContinueOnError)
	version := fl.String("version", "0.1.0", "the packages' `VERSION` (x.y.z, optionally -suffix)")
	out := fl.String("out", "dist", "the output `DIR`")
	arches := fl.String("arch", "amd64", "the Linux and macOS `ARCHES`, comma-separated (amd64, arm64)")
	only := fl.String("only", "deb,rpm,msi,macos", "what to build, comma-separated: deb, rpm, msi, macos")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if !versionRE.MatchString(*version) {
		return fmt.Errorf("-version %q: want x.y.z, optionally with a -suffix", *version)
	}
	want := strings.Split(*only, ",")
	for _, w := range want {
		if !slices.Contains([]string{"deb", "rpm", "msi", "macos"}, w) {
			return fmt.Errorf("-only: unknown %q", w)
		}
	}
	archList := strings.Split(*arches, ",")
	for _, a := range archList {
		if a != "amd64" && a != "arm64" {
			return fmt.Errorf("-arch: unknown %q", a)
		}
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	b := &builder{root: root, out: outDir, version: *version}
	var made []string
	for _, arch := range archList {
		if slices.Contains(want, "deb") || slices.Contains(want, "rpm") {
			bin, err := b.compile("linux", arch)
			if err != nil {
				return err
			}
			for _, format := range []string{"deb", "rpm"} {
				if slices.Contains(want, format) {
					p, err := b.linuxPackage(format, arch, bin)
					if err != nil {
						return err
					}
					made = append(made, p)
				}
			}
		}
		if slices.Contains(want, "macos") {
			bin, err := b.compile("darwin", arch)
			if err != nil {
				return err
			}
			ps, err := b.macPayload(arch, bin)
			if err != nil {
				return err
			}
			made = append(made, ps...)
		}
	}
	if slices.Contains(want, "msi") {
		bin, err := b.compile("windows", "amd64")
		if err != nil {
			return err
		}
		p, err := b.msi(bin)
		if err != nil {
			return err
		}
		made = append(made, p)
	}
	for _, p := range made {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		sum := "-"
		if fi.Mode().IsRegular() {
			if sum, err = sha256File(p); err != nil {
				return err
			}
		}
		fmt.Printf("%s  %s  %d bytes\n", sum, p, fi.Size())
	}
	return nil
}

type builder struct {
	root, out, version string
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module (run this inside the casekeep repository): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// compile builds the agent for goos/goarch, without cgo, stripped of local
// paths, with the version set.
func (b *builder) compile(goos, goarch string) (string, error) {
	name := "casekeep"
	if goos == "windows" {
		name += ".exe"
	}
	path := filepath.Join(b.out, "bin", goos+"-"+goarch, name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", path,
		"-ldflags", "-s -w -X github.com/casekeep/casekeep/agent.version="+b.version, "./cmd/casekeep")
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the agent for %s/%s: %w", goos, goarch, err)
	}
	return path, nil
}

// linuxPackage makes the deb or rpm.
func (b *builder) linuxPackage(format, arch, bin string) (string, error) {
	work, err := os.MkdirTemp("", "casekeep-pkg")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	svc := installer.Service{Name: "casekeep", Exec: "/usr/bin/casekeep", Args: []string{"run"}, State: "/var/lib/casekeep", Config: "/etc/casekeep", StopTimeout: 25 * time.Second}
	unit, err := installer.SystemdUnit(svc)
	if err != nil {
		return "", err
	}
	unitPath := filepath.Join(work, "casekeep.service")
	if err := os.WriteFile(unitPath, []byte(unit), 0o644); err != nil {
		return "", err
	}
	scripts := filepath.Join(b.root, "installer", "scripts")
	// Debian keeps packaged units in /lib/systemd/system; RPM distributions
	// in /usr/lib/systemd/system.
	unitDir := "/lib/systemd/system"
	if format == "rpm" {
		unitDir = "/usr/lib/systemd/system"
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: "casekeep", Arch: arch, Platform: "linux", Version: b.version, Release: "1",
		Section: "admin", Priority: "optional",
		Maintainer:  "casekeep <security@casekeep.invalid>",
		Vendor:      "casekeep",
		Homepage:    "https://github.com/casekeep/casekeep",
		License:     "Proprietary",
		Description: "keeps cached social-care case files encrypted\ncasekeep's agent seals case files cached on this laptop with age, watches for\nUSB drives, personal cloud folders and case files left in Downloads, and\nreports signed compliance heartbeats to the council's casekeep server.",
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: bin, Destination: "/usr/bin/casekeep", FileInfo: &files.ContentFileInfo{Mode: 0o755, Owner: "root", Group: "root"}},
				{Source: unitPath, Destination: unitDir + "/casekeep.service", FileInfo: &files.ContentFileInfo{Mode: 0o644, Owner: "root", Group: "root"}},
				{Destination: "/etc/casekeep", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, Owner: "root", Group: "root"}},
				{Destination: "/var/lib/casekeep", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o700, Owner: "root", Group: "root"}},
				// The agent's status file, which casekeep status reads as any user.
				{Destination: "/var/lib/casekeep-status", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755, Owner: "root", Group: "root"}},
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(scripts, "postinstall.sh"),
				PreRemove:   filepath.Join(scripts, "preremove.sh"),
				PostRemove:  filepath.Join(scripts, "postremove.sh"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.out, pkgr.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: %w", format, err)
	}
	return path, f.Close()
}

// msiVersion is the MSI ProductVersion: the numeric x.y.z of the version.
func msiVersion(v string) string {
	return regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+`).FindString(v)
}

// msi builds the Windows installer with wixl.
func (b *builder) msi(exe string) (string, error) {
	wixl, err := exec.LookPath("wixl")
	if err != nil {
		return "", errors.New("the MSI needs wixl (apt-get install wixl); or leave msi out of -only")
	}
	path := filepath.Join(b.out, "casekeep-"+b.version+"-x64.msi")
	// wixl takes only relative source paths: run it beside the program.
	cmd := exec.Command(wixl, "-a", "x64", "-D", "Version="+msiVersion(b.version), "-D", "Exe="+filepath.Base(exe),
		"-o", path, filepath.Join(b.root, "installer", "casekeep.wxs"))
	cmd.Dir = filepath.Dir(exe)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("wixl: %w\n%s", err, out)
	}
	// wixl exits 0 on some database errors, leaving no file.
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("wixl made no MSI:\n%s", out)
	}
	return path, nil
}

// macPayload lays out what pkgbuild packs on a Mac, and a tarball of it.
func (b *builder) macPayload(arch, bin string) ([]string, error) {
	name := "casekeep-" + b.version + "-macos-" + arch
	dir := filepath.Join(b.out, name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	def := installer.Service{Name: "casekeep", Exec: "/usr/local/bin/casekeep", Args: []string{"run"},
		State: "/Library/Application Support/casekeep/state", Config: "/Library/Application Support/casekeep/config", StopTimeout: 25 * time.Second}
	plist, err := installer.LaunchdPlist(def)
	if err != nil {
		return nil, err
	}
	label := installer.LaunchdLabel("casekeep")
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	postinstall, err := os.ReadFile(filepath.Join(b.root, "installer", "scripts", "macos-postinstall.sh"))
	if err != nil {
		return nil, err
	}
	pkgName := "casekeep-" + b.version + "-" + arch + ".pkg"
	howto := fmt.Sprintf(`casekeep %[1]s for macOS (%[2]s): the payload of the installer package.

A .pkg cannot be built on Linux with stock tools. On a Mac, in this folder:

  pkgbuild --root payload --scripts scripts --identifier %[3]s --version %[1]s --install-location / %[4]s

Sign it for MDM with --sign "Developer ID Installer: ..." (and notarize it).
The package installs /usr/local/bin/casekeep and
/Library/LaunchDaemons/%[3]s.plist (RunAtLoad, KeepAlive); its postinstall
script creates /Library/Application Support/casekeep/{config,state} and loads
the daemon. To enroll, have MDM write
/Library/Application Support/casekeep/config/enroll.env with
CASEKEEP_SERVER=... and CASEKEEP_ENROLL_TOKEN=... (mode 0600, owned by root).
`, b.version, arch, label, pkgName)
	entries := []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{"payload/usr/local/bin/casekeep", exe, 0o755},
		{"payload/Library/LaunchDaemons/" + label + ".plist", []byte(plist), 0o644},
		{"scripts/postinstall", postinstall, 0o755},
		{"BUILD-PKG.txt", []byte(howto), 0o644},
	}
	tarPath := filepath.Join(b.out, name+".tar.gz")
	tf, err := os.Create(tarPath)
	if err != nil {
		return nil, err
	}
	defer tf.Close()
	gz := gzip.NewWriter(tf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, e.data, e.mode); err != nil {
			return nil, err
		}
		hdr := &tar.Header{Name: name + "/" + e.path, Mode: int64(e.mode), Size: int64(len(e.data)),
			Uname: "root", Gname: "wheel", ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return []string{dir, tarPath}, tf.Close()
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
