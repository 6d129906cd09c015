package pack

import "fmt"

// A manifest says little about each member: its path, size, digest and link
// target, about 130 bytes plus the path and the target, which YAML may
// quote and escape (at most 4 bytes for 1). A manifest much larger than the
// members justify is an attempt to make the server parse megabytes of YAML
// for a handful of files; it is refused before it is parsed.
const (
	manifestPerMember = 512
	manifestBase      = 4 << 10
)

// manifestBudget is the largest manifest the members seen justify.
func (c *checker) manifestBudget() int64 {
	n := int64(manifestBase)
	for rel, m := range c.members {
		n += manifestPerMember + 4*int64(len(rel)+len(m.linkname))
	}
	return n
}

// checkManifestBudget refuses a manifest larger than its members justify.
func (c *checker) checkManifestBudget() error {
	if budget := c.manifestBudget(); int64(len(c.manifest)) > budget {
		return &Error{Member: ManifestName, Check: fmt.Sprintf(
			"%d bytes is more than %d files justify (at most %d bytes: %d per file, 4 per byte of its path and link target, plus %d)",
			len(c.manifest), len(c.members), budget, manifestPerMember, manifestBase)}
	}
	return nil
}
