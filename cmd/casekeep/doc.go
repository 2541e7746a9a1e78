// Command casekeep is the agent that runs on each laptop, as a service, and
// the command line its user and IT technicians use there: run (the agent),
// enroll, status and doctor (what the laptop's casekeep sees and whether it
// is healthy, in plain words), service (install, start, stop and remove the
// service through kardianos/service, all of it in service.go), and ls,
// verify and seal for the sealed cache (vaultcmd.go). It parses flags,
// finds the folders of the OS, prints, and hands the work to the packages
// that own it: the agent and its stop and farewell to package agent
// (lifecycle.go tells how the server learns the agent stopped), enrolling
// on first start to agent/report, the service definitions and the systemd
// drop-in to installer.
package main
