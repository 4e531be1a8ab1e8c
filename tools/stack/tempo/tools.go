//go:build tools

// Package tools pins the Grafana Tempo binary the local stack runs.
package tools

import _ "github.com/grafana/tempo/cmd/tempo"
