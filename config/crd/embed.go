// Package crd embeds rolegate's generated CustomResourceDefinitions
// (config/crd/bases, written by `make manifests`), so that offline tools
// such as `rolegate lint` validate against exactly what the API server
// installs, and stay in step with it on every regeneration.
package crd

import "embed"

// Bases holds bases/*.yaml, one CustomResourceDefinition per file.
//
//go:embed bases/*.yaml
var Bases embed.FS
