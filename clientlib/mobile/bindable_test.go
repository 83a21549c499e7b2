package mobile

import (
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The facade must stay bindable by gomobile: every exported function, method, interface method
// and struct field uses only the types gobind can carry to Java and Objective-C. CI also runs
// gobind itself (make bindcheck); this test names the offending declaration at once.
func TestFacadeIsBindable(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	if problems := unbindable(t, sources...); len(problems) > 0 {
		t.Fatalf("not bindable by gomobile:\n%s", strings.Join(problems, "\n"))
	}
}

// The check finds what gobind refuses or mangles, so the test above can fail.
func TestBindableCheckFindsNonBindableTypes(t *testing.T) {
	src := `package mobile
import ("context"; "time")
type Box struct{ Items []string; When time.Duration }
type Cb interface{ Done(m map[string]string) }
func Open(ctx context.Context, home string) (*Box, error) { return nil, nil }
func (b *Box) Each(f func(string)) {}
func Many() (string, int64, error) { return "", 0, nil }
func Fine(b []byte, n int64, ok bool, c Cb) (*Box, error) { return nil, nil }
func ByValue(b Box) {}`
	got := strings.Join(unbindable(t, src), "\n")
	for _, want := range []string{"Box.Items", "Box.When", "Cb.Done", "Open", "Box.Each", "Many", "ByValue"} {
		if !strings.Contains(got, want+":") {
			t.Errorf("the check missed %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Fine:") {
		t.Errorf("the check refused a bindable function:\n%s", got)
	}
}

// unbindable lists the exported declarations of the sources that gobind cannot bind.
func unbindable(t *testing.T, sources ...string) []string {
	t.Helper()
	fset := token.NewFileSet()
	own := map[string]string{} // the package's own exported types: "struct" or "interface"
	var parsed []*ast.File
	for i, src := range sources {
		f, err := parser.ParseFile(fset, fmt.Sprintf("src%d.go", i), src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
						switch ts.Type.(type) {
						case *ast.StructType:
							own[ts.Name.Name] = "struct"
						case *ast.InterfaceType:
							own[ts.Name.Name] = "interface"
						}
					}
				}
			}
		}
	}
	var problems []string
	bad := func(where string, e ast.Expr) {
		if !bindableType(e, own) {
			problems = append(problems, fmt.Sprintf("%s: %s", where, types(fset, e)))
		}
	}
	signature := func(where string, ft *ast.FuncType) {
		for _, p := range ft.Params.List {
			bad(where, p.Type)
		}
		if ft.Results == nil {
			return
		}
		var results []ast.Expr
		for _, r := range ft.Results.List {
			for range max(1, len(r.Names)) {
				results = append(results, r.Type)
			}
		}
		// gobind allows one result, or a result and an error.
		if len(results) > 2 || (len(results) == 2 && types(fset, results[1]) != "error") {
			problems = append(problems, fmt.Sprintf("%s: results %d (one value, optionally with an error)", where, len(results)))
		}
		for _, r := range results {
			bad(where, r)
		}
	}
	for _, f := range parsed {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := strings.TrimPrefix(types(fset, d.Recv.List[0].Type), "*")
					if own[recv] != "struct" {
						continue
					}
					name = recv + "." + name
				}
				signature(name, d.Type)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					ts, ok := s.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					switch typ := ts.Type.(type) {
					case *ast.StructType:
						for _, fld := range typ.Fields.List {
							for _, n := range fld.Names {
								if n.IsExported() {
									bad(ts.Name.Name+"."+n.Name, fld.Type)
								}
							}
						}
					case *ast.InterfaceType:
						for _, m := range typ.Methods.List {
							if ft, ok := m.Type.(*ast.FuncType); ok && len(m.Names) > 0 {
								signature(ts.Name.Name+"."+m.Names[0].Name, ft)
							}
						}
					}
				}
			}
		}
	}
	return problems
}

// bindableType: the basic types gobind carries, []byte, error, and the package's own types
// (structs by pointer, interfaces as they are).
func bindableType(e ast.Expr, own map[string]string) bool {
	switch e := e.(type) {
	case *ast.Ident:
		switch e.Name {
		case "string", "bool", "int", "int8", "int16", "int32", "int64", "float32", "float64", "byte", "rune", "error":
			return true
		}
		return own[e.Name] == "interface"
	case *ast.StarExpr:
		id, ok := e.X.(*ast.Ident)
		return ok && own[id.Name] == "struct"
	case *ast.ArrayType:
		id, ok := e.Elt.(*ast.Ident)
		return e.Len == nil && ok && id.Name == "byte"
	}
	return false
}

func types(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	if err := format.Node(&b, fset, e); err != nil {
		return fmt.Sprintf("%T", e)
	}
	return b.String()
}
