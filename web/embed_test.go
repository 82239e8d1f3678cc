package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The dashboard's own scripts never turn data into markup and never evaluate strings: server data
// reaches the page only as text nodes (see assets/js/dom.js). The vendored Chart.js is not ours
// and is left out.
func TestScriptsDoNotBuildHTMLFromStrings(t *testing.T) {
	forbidden := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(['"]`)
	n := 0
	err := fs.WalkDir(Files(), "assets/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		n++
		b, err := fs.ReadFile(Files(), p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := forbidden.FindString(line); m != "" && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d uses %s", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("found only %d scripts under assets/js", n)
	}
}

// Every file index.html loads is embedded.
func TestIndexReferencesEmbeddedFiles(t *testing.T) {
	b, err := fs.ReadFile(Files(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`).FindAllStringSubmatch(string(b), -1)
	if len(refs) < 4 {
		t.Fatalf("index.html references %d assets", len(refs))
	}
	for _, r := range refs {
		if _, err := fs.Stat(Files(), r[1]); err != nil {
			t.Errorf("index.html loads /%s, which is not embedded: %v", r[1], err)
		}
	}
}
