package lint

import (
	"context"
	"fmt"
	"io/fs"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	sigsyaml "sigs.k8s.io/yaml"

	"rolegate.dev/rolegate/config/crd"
)

// ReasonSchema is the reason of a finding from the CRD's OpenAPI schema or
// its CEL (x-kubernetes-validations) rules: the API server would refuse the
// object before any webhook saw it.
const ReasonSchema = "SchemaInvalid"

// crdSchema validates one kind as the API server does on create: the
// structural schema's defaults, then the OpenAPI schema, list types and
// CEL rules.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	schemasOnce sync.Once
	schemas     map[string]*crdSchema // by "apiVersion/kind"
	schemasErr  error
)

// loadSchemas reads every CustomResourceDefinition of the embedded
// config/crd/bases once.
func loadSchemas() (map[string]*crdSchema, error) {
	schemasOnce.Do(func() { schemas, schemasErr = readSchemas(crd.Bases) })
	return schemas, schemasErr
}

func readSchemas(fsys fs.FS) (map[string]*crdSchema, error) {
	files, err := fs.Glob(fsys, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*crdSchema{}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := sigsyaml.Unmarshal(data, &def); err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", f, err)
		}
		for _, v := range def.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiextensions.JSONSchemaProps{}
			if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(
				v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, fmt.Errorf("converting the schema of CRD %s %s: %w", def.Name, v.Name, err)
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("CRD %s %s has no structural schema: %w", def.Name, v.Name, err)
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(internal)
			if err != nil {
				return nil, fmt.Errorf("CRD %s %s: %w", def.Name, v.Name, err)
			}
			out[def.Spec.Group+"/"+v.Name+"/"+def.Spec.Names.Kind] = &crdSchema{
				structural: s, validator: validator,
				cel: cel.NewValidator(s, true, celconfig.PerCallLimit),
			}
		}
	}
	return out, nil
}

// validate returns what the API server's CRD validation would refuse in
// the object (a JSON-compatible map), with field paths from the object's
// root.
func (c *crdSchema) validate(obj map[string]any) field.ErrorList {
	// kubectl asks for strict field validation: an unknown field is an
	// error, where the server would otherwise prune it.
	var errs field.ErrorList
	unknown := pruning.PruneWithOptions(obj, c.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotSupported, Field: path,
			Detail: fmt.Sprintf("unknown field %q: rolegate's CRD has no such field; check its spelling against `kubectl explain`", path)})
	}
	structuraldefaulting.Default(obj, c.structural)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj, c.validator)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, c.structural, obj)...)
	if c.cel != nil {
		celErrs, _ := c.cel.Validate(context.Background(), nil, c.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// schemaFindings validates a rolegate object against its CRD: one finding
// per field error, at the field's line. ok is false when the kind has no
// CRD here (not a rolegate kind, or an unknown version).
func schemaFindings(d *doc) ([]Finding, bool) {
	all, err := loadSchemas()
	if err != nil {
		return []Finding{d.finding(Error, ReasonSchema, "", "cannot load rolegate's CRDs to validate against: "+err.Error())}, true
	}
	s, ok := all[d.apiVersion+"/"+d.kind]
	if !ok {
		return nil, false
	}
	var obj map[string]any
	if err := decode(d, &obj, false); err != nil {
		return []Finding{d.finding(Error, ReasonInvalidObject, "", err.Error())}, true
	}
	// One problem per field: a value the schema's pattern refuses also
	// fails the CEL rules that read it, which would only repeat it.
	var out []Finding
	seen := map[string]bool{}
	for _, e := range s.validate(obj) {
		if seen[e.Field] {
			continue
		}
		seen[e.Field] = true
		msg := e.ErrorBody()
		if e.Type == field.ErrorTypeNotSupported && e.Detail != "" && e.BadValue == nil {
			msg = e.Detail
		}
		out = append(out, d.finding(Error, ReasonSchema, e.Field, msg))
	}
	return out, true
}
