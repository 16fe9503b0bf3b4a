package utils

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
)

// NotALiteral is the default recorded for a flag whose default is computed.
const NotALiteral = "<not a literal>"

// ManagerFlagDefaults reads the manager's flags and their defaults from
// cmd/main.go under root: flag.XxxVar(&v, "name", default, usage), where
// envOr("ENV", d) defaults to d and a computed default reads NotALiteral.
// Manifests and the chart are checked against it, so a renamed flag or a
// changed default fails a test instead of the manager's start-up.
func ManagerFlagDefaults(root string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "cmd", "main.go"), nil, 0)
	if err != nil {
		return nil, err
	}
	literal := func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
			return e.Value, true
		case *ast.Ident:
			return e.Name, e.Name == "true" || e.Name == "false"
		}
		return "", false
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 3 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "flag" {
			return true
		}
		name, ok := literal(call.Args[1])
		if !ok {
			return true
		}
		def, ok := literal(call.Args[2])
		if env, isCall := call.Args[2].(*ast.CallExpr); isCall && len(env.Args) == 2 {
			if fn, _ := env.Fun.(*ast.Ident); fn != nil && fn.Name == "envOr" {
				def, ok = literal(env.Args[1])
			}
		}
		if !ok {
			def = NotALiteral
		}
		out[name] = def
		return true
	})
	return out, nil
}
