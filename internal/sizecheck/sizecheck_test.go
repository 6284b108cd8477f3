// Package sizecheck holds a test that keeps the module's non-test Go files
// and functions short enough to read in one sitting: 400 lines a file, 80
// a function (issue 22).
package sizecheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The limits: lines in a non-test Go file, and in one of its functions or
// methods (test files are not held to them: tables and scenarios read
// better long).
const (
	maxFileLines = 400
	maxFuncLines = 80
)

// exempt are files and functions still over a limit, each with its
// reason; shrink the list, never grow it.
var exempt = map[string]string{}

// oversize walks the module below root and lists what is over a limit,
// as "path: N lines" and "path: func Name: N lines".
func oversize(root string) ([]string, error) {
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "// Code generated") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		if n := fset.File(f.Pos()).LineCount(); n > maxFileLines {
			out = append(out, fmt.Sprintf("%s: %d lines", rel, n))
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var name string
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				name, body = fn.Name.Name, fn.Body
				if fn.Recv != nil && len(fn.Recv.List) == 1 {
					name = recvName(fn.Recv.List[0].Type) + "." + name
				}
			default:
				return true
			}
			if body == nil {
				return false
			}
			lines := fset.Position(n.End()).Line - fset.Position(n.Pos()).Line + 1
			if lines > maxFuncLines {
				out = append(out, fmt.Sprintf("%s: func %s: %d lines", rel, name, lines))
			}
			return false
		})
		return nil
	})
	sort.Strings(out)
	return out, err
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// key drops the line count, so an exemption names the place, not its size.
func key(s string) string {
	if i := strings.LastIndex(s, ": "); i > 0 {
		return s[:i]
	}
	return s
}

func TestNoFileOrFunctionOverTheLimits(t *testing.T) {
	got, err := oversize(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	over := map[string]bool{}
	for _, s := range got {
		over[key(s)] = true
		if _, ok := exempt[key(s)]; !ok {
			t.Errorf("%s: over the limit (%d lines a file, %d a function); split it", s, maxFileLines, maxFuncLines)
		}
	}
	for k := range exempt {
		if !over[k] {
			t.Errorf("%s is exempt but within the limits now: drop it from exempt", k)
		}
	}
}
