// Package config reads service files. Parsing is strict: every key must be
// known, every value must have the right type, and every problem is reported
// with the file, the line and a plain sentence. Rules that span fields
// (cycles, dangling names) are checked by the domain's ServiceSpec.Validate
// and mapped back to lines here, so a file is either applied whole or not at
// all.
package config
