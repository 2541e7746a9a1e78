// Command casekeep is the agent that runs on each laptop, as a service, and
// the command line its user and IT technicians use there: run (the agent),
// enroll, status and doctor (what the laptop's casekeep sees and whether it
// is healthy, in plain words), service (install, start, stop and remove the
// service through kardianos/service, all of it in service.go), and ls,
// verify and seal for the sealed cache. The agent itself is package agent;
// this command parses flags, finds the folders of the OS, enrolls on first
// start and hands the agent to the service manager.
package main
