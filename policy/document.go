package policy

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"filippo.io/age"
)

// document is the policy as written: the YAML that IT security authors and
// the canonical JSON that is signed share this shape. Every value that needs
// parsing (durations, recipients, patterns, times) is a string here, so that
// one function, fromDocument, turns either form into a Policy and reports
// every problem with the path of the field it is about.
type document struct {
	Version   int          `yaml:"version" json:"version"`
	Name      string       `yaml:"name" json:"name"`
	IssuedAt  string       `yaml:"issued_at" json:"issued_at"`
	Vault     vaultDoc     `yaml:"vault" json:"vault"`
	Storage   storageDoc   `yaml:"storage" json:"storage"`
	Classify  classifyDoc  `yaml:"classify" json:"classify"`
	Heartbeat heartbeatDoc `yaml:"heartbeat" json:"heartbeat"`
	Offline   offlineDoc   `yaml:"offline" json:"offline"`
	Checks    checksDoc    `yaml:"checks" json:"checks"`
}

type vaultDoc struct {
	CachePaths       cachePathsDoc `yaml:"cache_paths" json:"cache_paths"`
	CaseRefPattern   string        `yaml:"case_ref_pattern" json:"case_ref_pattern"`
	EscrowRecipients []string      `yaml:"escrow_recipients" json:"escrow_recipients"`
	WorkspaceTTL     string        `yaml:"workspace_ttl" json:"workspace_ttl"`
	Debounce         debounceDoc   `yaml:"debounce" json:"debounce"`
}

type cachePathsDoc struct {
	Linux   string `yaml:"linux,omitempty" json:"linux,omitempty"`
	MacOS   string `yaml:"macos,omitempty" json:"macos,omitempty"`
	Windows string `yaml:"windows,omitempty" json:"windows,omitempty"`
}

type debounceDoc struct {
	Quiet string `yaml:"quiet" json:"quiet"`
	Max   string `yaml:"max" json:"max"`
}

type storageDoc struct {
	RemovableMedia removableDoc `yaml:"removable_media" json:"removable_media"`
	SyncFolders    syncDoc      `yaml:"sync_folders" json:"sync_folders"`
	Sweep          sweepDoc     `yaml:"sweep" json:"sweep"`
}

type removableDoc struct {
	Action string      `yaml:"action" json:"action"`
	Allow  []deviceDoc `yaml:"allow" json:"allow"`
}

type deviceDoc struct {
	VendorID    string `yaml:"vendor_id" json:"vendor_id"`
	ProductID   string `yaml:"product_id" json:"product_id"`
	Serial      string `yaml:"serial" json:"serial"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

type syncDoc struct {
	Action   string           `yaml:"action" json:"action"`
	Approved []syncAccountDoc `yaml:"approved" json:"approved"`
}

type syncAccountDoc struct {
	Provider string `yaml:"provider" json:"provider"`
	Account  string `yaml:"account" json:"account"`
}

type sweepDoc struct {
	Action  string   `yaml:"action" json:"action"`
	Folders []string `yaml:"folders" json:"folders"`
}

type classifyDoc struct {
	MaxBytes     string   `yaml:"max_bytes" json:"max_bytes"`
	NamePattern  string   `yaml:"name_pattern,omitempty" json:"name_pattern,omitempty"`
	PathPatterns []string `yaml:"path_patterns" json:"path_patterns"`
	Markers      []string `yaml:"markers" json:"markers"`
}

type heartbeatDoc struct {
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Interval string `yaml:"interval" json:"interval"`
	Jitter   string `yaml:"jitter" json:"jitter"`
}

type offlineDoc struct {
	MissingAfterDays int    `yaml:"missing_after_days" json:"missing_after_days"`
	UnlockWindow     string `yaml:"unlock_window" json:"unlock_window"`
}

type checksDoc struct {
	Required []string `yaml:"required" json:"required"`
}

// Defaults applied to fields the author leaves out. They are written into
// the canonical encoding, so an agent never depends on its own defaults.
const (
	defaultCaseRefPattern   = `^(?P<ref>[^/]+)/`
	defaultWorkspaceTTL     = 8 * time.Hour
	defaultDebounceQuiet    = 150 * time.Millisecond
	defaultDebounceMax      = 2 * time.Second
	defaultInterval         = 5 * time.Minute
	defaultMissingAfterDays = 30
	defaultUnlockWindow     = 72 * time.Hour
	defaultClassifyMaxBytes = 1 << 20
)

var (
	defaultSweepFolders = []string{"~/Downloads", "~/Desktop"}
	defaultChecks       = []string{string(CheckDiskEncryption)}
	defaultMarkers      = []string{"OFFICIAL-SENSITIVE"}
)

// Limits that keep a hostile or mistaken document from costing much.
const (
	maxNameLen      = 200
	maxPatternLen   = 1000
	maxPathLen      = 1024
	maxListLen      = 1000
	maxDescLen      = 200
	maxDays         = 3650
	maxDuration     = 365 * 24 * time.Hour
	maxSerialLen    = 128
	maxEndpointLen  = 2048
	maxRecipientLen = 4096
	minMarkerLen    = 3
	maxMarkerLen    = 200
	minClassifyRead = 4 << 10
	maxClassifyRead = 64 << 20
)

// checker collects problems while converting a document.
type checker struct {
	problems []Problem
}

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fromDocument applies defaults to d, converts it to a Policy and validates
// it. It returns every problem found; the Policy is only meaningful when
// there are none.
func fromDocument(d *document) (*Policy, []Problem) {
	c := &checker{}
	p := &Policy{}

	if d.Version < 1 {
		c.add("version", "must be a whole number of at least 1 (it goes up with every change)")
	}
	p.Version = d.Version

	switch {
	case strings.TrimSpace(d.Name) == "":
		c.add("name", "is required")
	case utf8.RuneCountInString(d.Name) > maxNameLen:
		c.add("name", "is longer than %d characters", maxNameLen)
	case !printable(d.Name):
		c.add("name", "must not contain control characters or invalid UTF-8")
	}
	p.Name = d.Name

	if d.IssuedAt == "" {
		c.add("issued_at", "is required (a time such as 2026-11-22T09:00:00Z)")
	} else if t, err := time.Parse(time.RFC3339Nano, d.IssuedAt); err != nil {
		c.add("issued_at", "%q is not a time in RFC 3339 form, such as 2026-11-22T09:00:00Z", d.IssuedAt)
	} else {
		p.IssuedAt = t.UTC()
	}

	p.Vault = c.vault(&d.Vault)
	p.Storage = c.storage(&d.Storage)
	p.Classify = c.classify(&d.Classify)
	p.Heartbeat = c.heartbeat(&d.Heartbeat)
	p.Offline = c.offline(&d.Offline)
	p.Checks = c.checks(&d.Checks)
	return p, c.problems
}

func (c *checker) vault(d *vaultDoc) Vault {
	var v Vault
	paths := map[string]*string{
		"linux": &d.CachePaths.Linux, "macos": &d.CachePaths.MacOS, "windows": &d.CachePaths.Windows,
	}
	if d.CachePaths.Linux == "" && d.CachePaths.MacOS == "" && d.CachePaths.Windows == "" {
		c.add("vault.cache_paths", "needs a folder for at least one of linux, macos, windows")
	}
	for _, name := range []string{"linux", "macos", "windows"} {
		goos := name
		if name == "macos" {
			goos = "darwin"
		}
		if p := *paths[name]; p != "" {
			if err := checkPath(goos, p, true); err != nil {
				c.add("vault.cache_paths."+name, "%v", err)
			}
		}
	}
	v.CachePaths = CachePaths{Linux: d.CachePaths.Linux, MacOS: d.CachePaths.MacOS, Windows: d.CachePaths.Windows}

	pattern := d.CaseRefPattern
	if pattern == "" {
		pattern = defaultCaseRefPattern
	}
	if len(pattern) > maxPatternLen {
		c.add("vault.case_ref_pattern", "is longer than %d characters", maxPatternLen)
	} else if re, err := regexp.Compile(pattern); err != nil {
		c.add("vault.case_ref_pattern", "does not compile: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	} else {
		v.CaseRefPattern = re
	}

	if len(d.EscrowRecipients) == 0 {
		c.add("vault.escrow_recipients", "is empty: list at least one age public key (age1...) of the council's escrow keys, or no sealed file could be recovered after a wipe")
	}
	if len(d.EscrowRecipients) > maxListLen {
		c.add("vault.escrow_recipients", "has more than %d entries", maxListLen)
	}
	seen := map[string]int{}
	firstKind, firstAt := "", -1
	for i, s := range d.EscrowRecipients {
		path := fmt.Sprintf("vault.escrow_recipients[%d]", i)
		r, kind, err := parseRecipient(s)
		if err != nil {
			c.add(path, "%v", err)
			continue
		}
		if j, dup := seen[s]; dup {
			c.add(path, "repeats vault.escrow_recipients[%d]", j)
			continue
		}
		seen[s] = i
		if firstAt < 0 {
			firstKind, firstAt = kind, i
		} else if kind != firstKind {
			c.add(path, "is a %s recipient but vault.escrow_recipients[%d] is %s: age cannot mix post-quantum and classic recipients in one file, so list only one kind", kind, firstAt, firstKind)
			continue
		}
		v.EscrowRecipients = append(v.EscrowRecipients, r)
	}

	v.WorkspaceTTL = c.duration("vault.workspace_ttl", d.WorkspaceTTL, defaultWorkspaceTTL, true)
	v.Debounce.Quiet = c.duration("vault.debounce.quiet", d.Debounce.Quiet, defaultDebounceQuiet, true)
	v.Debounce.Max = c.duration("vault.debounce.max", d.Debounce.Max, defaultDebounceMax, true)
	if v.Debounce.Quiet > 0 && v.Debounce.Max > 0 && v.Debounce.Quiet > v.Debounce.Max {
		c.add("vault.debounce.max", "(%s) is shorter than vault.debounce.quiet (%s)", formatDuration(v.Debounce.Max), formatDuration(v.Debounce.Quiet))
	}
	return v
}

// parseRecipient parses an age public key and names its kind.
func parseRecipient(s string) (age.Recipient, string, error) {
	if s == "" {
		return nil, "", fmt.Errorf("is empty")
	}
	if len(s) > maxRecipientLen || !printable(s) {
		return nil, "", fmt.Errorf("is not an age public key (age1... or age1pq1...)")
	}
	if strings.HasPrefix(s, "age1pq1") {
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, "", fmt.Errorf("is not a valid post-quantum age public key: %v", err)
		}
		return r, "post-quantum", nil
	}
	if strings.HasPrefix(s, "AGE-SECRET-KEY-") {
		// Do not repeat the value: it is a private key.
		return nil, "", fmt.Errorf("is an age PRIVATE key: list the public key (age1...) and keep the private key offline")
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, "", fmt.Errorf("is not an age public key (age1... or age1pq1...): %v", err)
	}
	return r, "classic X25519", nil
}

func (c *checker) storage(d *storageDoc) Storage {
	var s Storage
	s.RemovableMedia.Action = c.action("storage.removable_media.action", d.RemovableMedia.Action, ActionAudit, ActionAudit, ActionSeal, ActionBlock)
	if len(d.RemovableMedia.Allow) > maxListLen {
		c.add("storage.removable_media.allow", "has more than %d entries", maxListLen)
	}
	s.RemovableMedia.Allow = []Device{}
	for i, e := range d.RemovableMedia.Allow {
		at := fmt.Sprintf("storage.removable_media.allow[%d]", i)
		dev := Device{
			VendorID:    strings.ToLower(e.VendorID),
			ProductID:   strings.ToLower(e.ProductID),
			Serial:      e.Serial,
			Description: e.Description,
		}
		if !isHex4(dev.VendorID) {
			c.add(at+".vendor_id", "%q is not a USB vendor id: write four hex digits, such as 0781", e.VendorID)
		}
		if !validProductPattern(dev.ProductID) {
			c.add(at+".product_id", "%q is not a USB product id: write four hex digits, such as 5581, or a pattern with * and ?", e.ProductID)
		}
		switch {
		case dev.Serial == "":
			c.add(at+".serial", "is required: write the device serial, or \"*\" to allow any serial")
		case len(dev.Serial) > maxSerialLen || !printable(dev.Serial):
			c.add(at+".serial", "must be at most %d printable characters", maxSerialLen)
		}
		if utf8.RuneCountInString(dev.Description) > maxDescLen || !printable(dev.Description) {
			c.add(at+".description", "must be at most %d printable characters", maxDescLen)
		}
		s.RemovableMedia.Allow = append(s.RemovableMedia.Allow, dev)
	}

	s.SyncFolders.Action = c.action("storage.sync_folders.action", d.SyncFolders.Action, ActionAudit, ActionAudit, ActionSeal, ActionQuarantine)
	s.SyncFolders.Approved = []SyncAccount{}
	for i, e := range d.SyncFolders.Approved {
		at := fmt.Sprintf("storage.sync_folders.approved[%d]", i)
		acct := SyncAccount{Provider: e.Provider, Account: strings.TrimSpace(e.Account)}
		if !slices.Contains(SyncProviders, acct.Provider) {
			c.add(at+".provider", "%q is not one of %s", e.Provider, strings.Join(SyncProviders, ", "))
		}
		switch {
		case acct.Account == "":
			c.add(at+".account", "is required: an email domain such as example.gov.uk, a tenant id, or \"*\" for every business account")
		case len(acct.Account) > maxDescLen || !printable(acct.Account):
			c.add(at+".account", "must be at most %d printable characters", maxDescLen)
		case strings.Contains(acct.Account, "@"):
			c.add(at+".account", "%q is an email address: write its domain only", acct.Account)
		case slices.Contains(s.SyncFolders.Approved, acct):
			c.add(at, "repeats an earlier entry")
		}
		s.SyncFolders.Approved = append(s.SyncFolders.Approved, acct)
	}

	s.Sweep.Action = c.action("storage.sweep.action", d.Sweep.Action, ActionQuarantine, ActionAudit, ActionQuarantine)
	folders := d.Sweep.Folders
	if folders == nil {
		folders = defaultSweepFolders
	}
	if len(folders) > maxListLen {
		c.add("storage.sweep.folders", "has more than %d entries", maxListLen)
	}
	s.Sweep.Folders = []string{}
	for i, f := range folders {
		path := fmt.Sprintf("storage.sweep.folders[%d]", i)
		if err := checkAnyOSPath(f); err != nil {
			c.add(path, "%v", err)
		}
		if slices.Contains(s.Sweep.Folders, f) {
			c.add(path, "%q is listed twice", f)
		}
		s.Sweep.Folders = append(s.Sweep.Folders, f)
	}
	return s
}

func (c *checker) classify(d *classifyDoc) Classify {
	var k Classify
	k.MaxBytes = defaultClassifyMaxBytes
	if d.MaxBytes != "" {
		n, err := parseSize(d.MaxBytes)
		switch {
		case err != nil:
			c.add("classify.max_bytes", "%v", err)
		case n < minClassifyRead || n > maxClassifyRead:
			c.add("classify.max_bytes", "(%s) must be between %s and %s", d.MaxBytes, formatSize(minClassifyRead), formatSize(maxClassifyRead))
		default:
			k.MaxBytes = n
		}
	}
	if d.NamePattern != "" {
		k.NamePattern = c.pattern("classify.name_pattern", d.NamePattern)
	}
	k.PathPatterns = []*regexp.Regexp{}
	for i, s := range d.PathPatterns {
		if re := c.pattern(fmt.Sprintf("classify.path_patterns[%d]", i), s); re != nil {
			k.PathPatterns = append(k.PathPatterns, re)
		}
	}
	markers := d.Markers
	if markers == nil {
		markers = defaultMarkers
	}
	k.Markers = []string{}
	for i, m := range markers {
		path := fmt.Sprintf("classify.markers[%d]", i)
		n := utf8.RuneCountInString(strings.TrimSpace(m))
		switch {
		case !printable(m):
			c.add(path, "must not contain control characters or invalid UTF-8")
		case n < minMarkerLen || len(m) > maxMarkerLen:
			c.add(path, "%q must be %d to %d characters: a shorter marker would match ordinary files", m, minMarkerLen, maxMarkerLen)
		case slices.ContainsFunc(k.Markers, func(o string) bool { return strings.EqualFold(o, m) }):
			c.add(path, "%q is listed twice", m)
		default:
			k.Markers = append(k.Markers, m)
		}
	}
	return k
}

// pattern compiles a regular expression field.
func (c *checker) pattern(path, s string) *regexp.Regexp {
	if len(s) > maxPatternLen {
		c.add(path, "is longer than %d characters", maxPatternLen)
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		c.add(path, "does not compile: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return nil
	}
	return re
}

// parseSize accepts a number of bytes with an optional unit: "65536",
// "512KiB", "4MiB" (KB and MB are read as KiB and MiB).
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > maxClassifyRead {
		return 0, fmt.Errorf("%q is not a size: write it like 65536, 512KiB or 4MiB", s)
	}
	return n * mult, nil
}

// formatSize writes a size the way the canonical encoding does.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10)
}

func (c *checker) heartbeat(d *heartbeatDoc) Heartbeat {
	var h Heartbeat
	if d.Endpoint != "" {
		if err := checkEndpoint(d.Endpoint); err != nil {
			c.add("heartbeat.endpoint", "%v", err)
		}
	}
	h.Endpoint = d.Endpoint
	h.Interval = c.duration("heartbeat.interval", d.Interval, defaultInterval, true)
	intervalOK := h.Interval >= MinInterval
	if h.Interval > 0 && !intervalOK {
		c.add("heartbeat.interval", "(%s) is shorter than the minimum of %s", formatDuration(h.Interval), formatDuration(MinInterval))
	}
	h.Jitter = c.duration("heartbeat.jitter", d.Jitter, h.Interval/10, false)
	// Compared only with a valid interval, so one mistake is reported once.
	if intervalOK && h.Jitter >= h.Interval {
		c.add("heartbeat.jitter", "(%s) must be shorter than heartbeat.interval (%s)", formatDuration(h.Jitter), formatDuration(h.Interval))
	}
	return h
}

func checkEndpoint(s string) error {
	if len(s) > maxEndpointLen || !printable(s) {
		return fmt.Errorf("is not a URL")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute URL such as https://casekeep.example.gov.uk", s)
	}
	if u.User != nil {
		return fmt.Errorf("must not carry a user name or password")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
		return fmt.Errorf("%q uses http: heartbeats must go over https (http is allowed only to localhost)", s)
	}
	return fmt.Errorf("%q must be an https URL", s)
}

func (c *checker) offline(d *offlineDoc) Offline {
	var o Offline
	switch {
	case d.MissingAfterDays == 0:
		o.MissingAfterDays = defaultMissingAfterDays
	case d.MissingAfterDays < 0:
		c.add("offline.missing_after_days", "(%d) must not be negative", d.MissingAfterDays)
	case d.MissingAfterDays > maxDays:
		c.add("offline.missing_after_days", "(%d) is more than %d", d.MissingAfterDays, maxDays)
	default:
		o.MissingAfterDays = d.MissingAfterDays
	}
	o.UnlockWindow = c.duration("offline.unlock_window", d.UnlockWindow, defaultUnlockWindow, true)
	return o
}

func (c *checker) checks(d *checksDoc) []Check {
	names := d.Required
	if names == nil {
		names = defaultChecks
	}
	want := map[Check]bool{}
	for i, n := range names {
		path := fmt.Sprintf("checks.required[%d]", i)
		ch := Check(n)
		if !slices.Contains(KnownChecks, ch) {
			known := make([]string, len(KnownChecks))
			for i, k := range KnownChecks {
				known[i] = string(k)
			}
			c.add(path, "%q is not a known check (known: %s)", n, strings.Join(known, ", "))
			continue
		}
		if want[ch] {
			c.add(path, "%q is listed twice", n)
		}
		want[ch] = true
	}
	checks := []Check{}
	for _, k := range KnownChecks {
		if want[k] {
			checks = append(checks, k)
		}
	}
	return checks
}

// action parses an action field that accepts only the listed actions.
func (c *checker) action(path, s string, def Action, allowed ...Action) Action {
	if s == "" {
		return def
	}
	a := Action(s)
	if slices.Contains(allowed, a) {
		return a
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	c.add(path, "%q is not one of %s", s, strings.Join(names, ", "))
	return ""
}

// duration parses a duration field; an empty field takes def. A zero
// duration is refused when positive is set.
func (c *checker) duration(path, s string, def time.Duration, positive bool) time.Duration {
	if s == "" {
		return def
	}
	d, err := parseDuration(s)
	switch {
	case err != nil:
		c.add(path, "%v", err)
		return 0
	case d < 0:
		c.add(path, "(%s) must not be negative", s)
		return 0
	case d == 0 && positive:
		c.add(path, "must be longer than zero")
		return 0
	case d > maxDuration:
		c.add(path, "(%s) is longer than a year", s)
		return 0
	}
	return d
}

// parseDuration accepts Go durations ("90s", "1h30m") and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if num, ok := strings.CutSuffix(s, "d"); ok && num != "" {
		n, err := strconv.Atoi(num)
		if err == nil && n >= -3650 && n <= 3650 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write it like 500ms, 90s, 5m, 8h or 7d", s)
	}
	return d, nil
}

// formatDuration writes d the way the canonical encoding does: Go's form
// without trailing zero units ("5m", "72h", "1h30m", "150ms").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func isHex4(s string) bool {
	if len(s) != 4 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func validProductPattern(s string) bool {
	if s == "" || len(s) > 4 && !strings.Contains(s, "*") || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef*?", r) {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// toDocument writes p in document form, normalized: defaults are explicit,
// values are in their canonical spelling, and lists are never nil.
func toDocument(p *Policy) *document {
	d := &document{
		Version:  p.Version,
		Name:     p.Name,
		IssuedAt: p.IssuedAt.UTC().Format(time.RFC3339Nano),
	}
	if p.IssuedAt.IsZero() {
		d.IssuedAt = ""
	}
	v := &d.Vault
	v.CachePaths = cachePathsDoc{Linux: p.Vault.CachePaths.Linux, MacOS: p.Vault.CachePaths.MacOS, Windows: p.Vault.CachePaths.Windows}
	if p.Vault.CaseRefPattern != nil {
		v.CaseRefPattern = p.Vault.CaseRefPattern.String()
	}
	v.EscrowRecipients = []string{}
	for _, r := range p.Vault.EscrowRecipients {
		v.EscrowRecipients = append(v.EscrowRecipients, recipientString(r))
	}
	v.WorkspaceTTL = formatDuration(p.Vault.WorkspaceTTL)
	v.Debounce = debounceDoc{Quiet: formatDuration(p.Vault.Debounce.Quiet), Max: formatDuration(p.Vault.Debounce.Max)}

	s := &d.Storage
	s.RemovableMedia.Action = string(p.Storage.RemovableMedia.Action)
	s.RemovableMedia.Allow = []deviceDoc{}
	for _, e := range p.Storage.RemovableMedia.Allow {
		s.RemovableMedia.Allow = append(s.RemovableMedia.Allow, deviceDoc(e))
	}
	s.SyncFolders.Action = string(p.Storage.SyncFolders.Action)
	s.SyncFolders.Approved = []syncAccountDoc{}
	for _, a := range p.Storage.SyncFolders.Approved {
		s.SyncFolders.Approved = append(s.SyncFolders.Approved, syncAccountDoc(a))
	}
	s.Sweep.Action = string(p.Storage.Sweep.Action)
	s.Sweep.Folders = append([]string{}, p.Storage.Sweep.Folders...)

	d.Classify = classifyDoc{MaxBytes: formatSize(p.Classify.MaxBytes), PathPatterns: []string{}, Markers: append([]string{}, p.Classify.Markers...)}
	if p.Classify.NamePattern != nil {
		d.Classify.NamePattern = p.Classify.NamePattern.String()
	}
	for _, re := range p.Classify.PathPatterns {
		d.Classify.PathPatterns = append(d.Classify.PathPatterns, re.String())
	}

	d.Heartbeat = heartbeatDoc{
		Endpoint: p.Heartbeat.Endpoint,
		Interval: formatDuration(p.Heartbeat.Interval),
		Jitter:   formatDuration(p.Heartbeat.Jitter),
	}
	d.Offline = offlineDoc{MissingAfterDays: p.Offline.MissingAfterDays, UnlockWindow: formatDuration(p.Offline.UnlockWindow)}
	d.Checks.Required = []string{}
	for _, ch := range p.Checks {
		d.Checks.Required = append(d.Checks.Required, string(ch))
	}
	return d
}

func recipientString(r age.Recipient) string {
	if s, ok := r.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("<%T>", r)
}
