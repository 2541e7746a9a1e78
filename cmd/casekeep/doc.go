// Command casekeep is the agent that runs on each laptop, as a service, and
// the command line its user and IT technicians use there.
package main
