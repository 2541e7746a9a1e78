package cloudsync

// Seams for the tests in package cloudsync_test.

// MaxConfig is the size beyond which a configuration file is not read.
const MaxConfig = maxConfig

// MaxPath is the longest path taken from a configuration.
const MaxPath = maxPath

// DropboxAccount is one account read from info.json.
type DropboxAccount struct {
	Key, Path string
	Kind      AccountKind
	Team      string
}

// ParseDropboxInfo parses info.json.
func ParseDropboxInfo(b []byte) ([]DropboxAccount, error) {
	accounts, err := parseDropboxInfo(b)
	var out []DropboxAccount
	for _, a := range accounts {
		out = append(out, DropboxAccount{a.key, a.path, a.kind, a.team})
	}
	return out, err
}

// OneDriveLinux is what the abraunegg client's config says, resolved for
// a home.
type OneDriveLinux struct {
	SyncDir  string
	Kind     AccountKind
	Account  string
	ParseErr error // problems with lines of the config
	DirErr   error // sync_dir cannot be used
}

// ParseOneDriveConfig parses the abraunegg client's config and resolves
// its folder in homeDir.
func ParseOneDriveConfig(homeDir string, b []byte) OneDriveLinux {
	c, perr := parseOneDriveConfig(b)
	p, derr := oneDriveSyncDir(homeDir, c.syncDir)
	k := c.account()
	return OneDriveLinux{p, k.kind, k.account, perr, derr}
}

// Named is what a folder's name says.
type Named struct {
	Provider Provider
	Kind     AccountKind
	Account  string
}

// CloudStorageName says what a folder in ~/Library/CloudStorage is.
func CloudStorageName(name string) (Named, bool) {
	k, ok := cloudStorageName(name)
	return Named{k.provider, k.kind, k.account}, ok
}

// LibraryAccount says whose a library of the Windows sync engine is.
func LibraryAccount(urlNamespace, libraryType string) Named {
	k := libraryAccount(urlNamespace, libraryType)
	return Named{k.provider, k.kind, k.account}
}

// UsersDirHomes lists the homes in a folder of homes.
func UsersDirHomes(dir string, skip []string) ([]string, error) { return usersDirHomes(dir, skip) }

// ProfileHomes lists the homes in the registry's ProfileList.
func ProfileHomes(reg Registry, drive string) ([]string, error) { return profileHomes(reg, drive) }
