// Command casekeep-bench measures casekeep against its references and prints
// the figures and ratios in one run. See README.md, "Benchmarks".
package main
