// Package cloudsync finds the cloud-sync folders on a laptop (Dropbox,
// Google Drive, OneDrive, iCloud Drive and Box) in every user's home, so
// that the agent can report them and watch them for case files, and tells
// the council's own accounts from personal ones and from other
// organisations'. A social worker's home PC that uploaded childcare
// documents to the internet is the failure this exists to see coming.
//
// [Find] looks in the homes it is given ([Homes] lists this machine's) by
// each system's rules: the providers' own configuration (Dropbox's
// info.json, the OneDrive accounts and SharePoint libraries in each
// logged-on user's registry hive on Windows, the abraunegg OneDrive
// client's config on Linux, Google Drive for desktop's mount point), the
// File Provider folders in ~/Library/CloudStorage on macOS, and the
// folders' default names (~/Dropbox, ~/OneDrive - Tenant, ~/iCloudDrive,
// ~/Box). Each [Folder] says which provider, where, what kind of account
// (personal, business or unknown), the account's email domain or tenant
// (never an email address), and the evidence. Only what exists is
// reported. An account is [Folder].Approved only when it is not personal
// and matches the council's list for that provider in
// [Options].ApprovedTenants; everything else is unapproved storage,
// including another organisation's Microsoft 365 tenant.
//
// What cannot be told: Google Workspace from a consumer Google account
// made with a work address (both are GoogleDrive-name@domain), so only
// gmail.com is known to be personal; the account behind Box Drive, Google
// Drive on Windows, or a folder found by its name only; a Managed Apple
// Account's iCloud Drive from a personal one (iCloud Drive is taken as
// personal). On Windows the registry is read for users whose hive is
// loaded (logged on); for the others only their folders' names count.
// Folder redirection of AppData and mount points chosen in Drive for
// desktop's own settings are not followed. On Linux only Dropbox and the
// abraunegg OneDrive client are looked for: Google Drive has no official
// client, and rclone, insync and the like are out of scope.
//
// Every configuration file and folder here is writable by the user, and the
// agent runs as root or SYSTEM, so nothing is trusted: configuration files
// are read through an [os.Root] on the home, refused if they or any folder
// on the way is a link, if they are not regular files (a FIFO never
// blocks the read), or if they are over 1 MiB, and checked after opening to
// be the file that was looked at. A sync folder that is itself a link is
// reported where it is, marked as a link, never resolved. Paths from
// configuration are reported cleaned and as given, even outside the home (a
// Dropbox on D: or an external disk), but never when relative. The same
// user can also forge any of it: this finds ordinary use and mistakes, not a
// determined user. Errors name files and keys, never their contents, and
// nothing is logged: [Find] returns what it found with the problems
// joined.
package cloudsync
