//go:build tools

// Package tools pins the OpenTelemetry Operator manager the local stack runs.
package tools

import _ "github.com/open-telemetry/opentelemetry-operator"
