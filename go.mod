module github.com/casekeep/casekeep

go 1.26.0

require (
	filippo.io/age v1.3.2
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.49.0
)

require (
	filippo.io/hpke v0.4.0 // indirect
	golang.org/x/crypto v0.55.0 // indirect
)
