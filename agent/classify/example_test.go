package classify_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/casekeep/casekeep/agent/classify"
)

func ExampleClassifier_Classify() {
	c, err := classify.New(classify.Rules{
		PathPatterns: []*regexp.Regexp{regexp.MustCompile(`(^|/)CaseExports/`)},
		NamePattern:  regexp.MustCompile(`(?P<ref>[A-Z]{2}-[0-9]{6})`),
		Markers:      []string{"OFFICIAL-SENSITIVE"},
	})
	if err != nil {
		panic(err)
	}
	// The caller opens the file itself (refusing symbolic links) and
	// passes the *os.File; a strings.Reader stands in for it here.
	files := map[string]string{
		"/home/sam/Downloads/LL-123456 chronology.docx": "",
		"/home/sam/Desktop/notes.txt":                   "Official\nSensitive? No: OFFICIAL - SENSITIVE, case LL-654321.",
		"/home/sam/Desktop/shopping.txt":                "milk, eggs",
	}
	for _, name := range []string{"/home/sam/Downloads/LL-123456 chronology.docx", "/home/sam/Desktop/notes.txt", "/home/sam/Desktop/shopping.txt"} {
		r := strings.NewReader(files[name])
		res, err := c.Classify(context.Background(), name, r, r.Size())
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: case file %v, rule %q, ref %q, format %q, read %d\n",
			name[strings.LastIndex(name, "/")+1:], res.CaseFile, res.Rule, res.CaseRef, res.Format, res.Read)
	}
	// Output:
	// LL-123456 chronology.docx: case file true, rule "name", ref "LL-123456", format "", read 0
	// notes.txt: case file true, rule "marker", ref "LL-654321", format "text", read 61
	// shopping.txt: case file false, rule "", ref "", format "text", read 10
}
