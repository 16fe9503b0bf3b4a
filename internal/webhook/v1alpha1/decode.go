package v1alpha1

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	accessv1alpha1 "rolegate.dev/rolegate/api/v1alpha1"
	"rolegate.dev/rolegate/internal/policy"
)

// shape is what a field of an admitted object must hold. The API server
// calls the mutating webhooks before it checks the CRD's schema, so a value
// of the wrong type reaches the webhook first; decoding it into the Go type
// fails with an error that names neither the field nor the format. shape
// finds the field and says what it accepts.
type shape struct {
	kind   shapeKind
	fields map[string]shape // kindObject
	elem   *shape           // kindMap, kindList
}

type shapeKind int

const (
	kindString shapeKind = iota
	kindDuration
	kindTime
	kindObject
	kindMap
	kindList
)

var (
	str        = shape{kind: kindString}
	strMap     = shape{kind: kindMap, elem: &str}
	strList    = shape{kind: kindList, elem: &str}
	userInfoOf = map[string]shape{"username": str, "uid": str, "groups": strList}
)

func object(fields map[string]shape) shape { return shape{kind: kindObject, fields: fields} }

// requestShape and decisionShape are the typed fields of the specs; fields
// they do not list decode as anything, or are the CRD schema's to refuse.
var (
	requestShape = object(map[string]shape{"spec": object(map[string]shape{
		"serviceAccount": object(map[string]shape{"name": str, "namespace": str}),
		"roleRef":        object(map[string]shape{"kind": str, "name": str}),
		"duration":       {kind: kindDuration},
		"justification":  str,
		"tags":           strMap,
		"policy":         str,
		"extends":        str,
		"startTime":      {kind: kindTime},
		"requester":      object(map[string]shape{"username": str, "uid": str, "groups": strList, "via": str}),
	})})
	decisionShape = object(map[string]shape{"spec": object(map[string]shape{
		"request":  str,
		"decision": str,
		"comment":  str,
		"reviewer": object(userInfoOf),
	})})
)

// Accepted formats, as the errors and the CRD messages state them.
const (
	durationFormat = "must be a Go duration such as 30m or 8h (units h, m, s, ms; days are not a unit: write 72h for 3 days)"
	timeFormat     = "must be an RFC 3339 time such as 2026-11-01T09:00:00Z"
)

// check walks v against the shape and lists every value of the wrong type
// or format.
func (s shape) check(path *field.Path, v any) field.ErrorList {
	if v == nil {
		return nil // null is the zero value: the CRD says whether it is required
	}
	switch s.kind {
	case kindString:
		if _, ok := v.(string); !ok {
			return field.ErrorList{field.Invalid(path, shown(v), "must be a string; quote it")}
		}
	case kindDuration:
		d, ok := v.(string)
		if !ok {
			return field.ErrorList{field.Invalid(path, shown(v), durationFormat+", written as a string")}
		}
		if _, err := time.ParseDuration(d); err != nil {
			return field.ErrorList{field.Invalid(path, d, durationFormat)}
		}
	case kindTime:
		t, ok := v.(string)
		if !ok {
			return field.ErrorList{field.Invalid(path, shown(v), timeFormat)}
		}
		if _, err := time.Parse(time.RFC3339, t); err != nil {
			return field.ErrorList{field.Invalid(path, t, timeFormat)}
		}
	case kindObject:
		m, ok := v.(map[string]any)
		if !ok {
			return field.ErrorList{field.Invalid(path, shown(v), "must be an object of fields")}
		}
		var errs field.ErrorList
		for _, k := range sortedKeys(s.fields) {
			errs = append(errs, s.fields[k].check(path.Child(k), m[k])...)
		}
		return errs
	case kindMap:
		m, ok := v.(map[string]any)
		if !ok {
			return field.ErrorList{field.Invalid(path, shown(v), "must be a map of key: value pairs, such as {owner: team-ledger}, not a list")}
		}
		var errs field.ErrorList
		for _, k := range sortedKeys(m) {
			errs = append(errs, s.elem.check(path.Child(k), m[k])...)
		}
		return errs
	case kindList:
		l, ok := v.([]any)
		if !ok {
			return field.ErrorList{field.Invalid(path, shown(v), "must be a list")}
		}
		var errs field.ErrorList
		for i, e := range l {
			errs = append(errs, s.elem.check(path.Index(i), e)...)
		}
		return errs
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shown is a bad value as an error shows it: scalars as they are, lists
// and objects by their JSON, cut short.
func shown(v any) any {
	switch v.(type) {
	case string, bool, float64:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return field.OmitValueType{}
	}
	const limit = 64
	if s := string(b); len(s) > limit {
		return s[:limit] + "..."
	}
	return string(b)
}

// decode reads the object in raw into obj. When it does not decode, the
// error names each field of the wrong type or format and what it accepts.
func decode(dec admission.Decoder, raw runtime.RawExtension, obj client.Object, s shape) *admission.Response {
	err := dec.DecodeRaw(raw, obj)
	if err == nil {
		return nil
	}
	var doc any
	if json.Unmarshal(raw.Raw, &doc) == nil {
		if errs := s.check(nil, doc); len(errs) > 0 {
			resp := invalid(obj, errs)
			return &resp
		}
	}
	resp := admission.Errored(http.StatusBadRequest, fmt.Errorf("the object does not decode as %s: %w", kindOf(obj), err))
	return &resp
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *accessv1alpha1.AccessRequest:
		return "AccessRequest"
	case *accessv1alpha1.AccessDecision:
		return "AccessDecision"
	case *accessv1alpha1.ApprovalPolicy:
		return "ApprovalPolicy"
	}
	return fmt.Sprintf("%T", obj)
}

// invalid refuses the object with its field errors, as the API server's
// own validation would: 422 Invalid, each cause naming its field.
func invalid(obj client.Object, errs field.ErrorList) admission.Response {
	st := apierrors.NewInvalid(schema.GroupKind{Group: accessv1alpha1.GroupVersion.Group, Kind: kindOf(obj)}, obj.GetName(), errs).ErrStatus
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: false, Result: &st}}
}

// violationErrors turns the policy's violations into field errors: a
// missing value is Required, a malformed one Invalid, anything the policy
// does not allow Forbidden. Each keeps the policy's message, which names
// the fix.
func violationErrors(vs []policy.Violation) field.ErrorList {
	errs := make(field.ErrorList, 0, len(vs))
	for _, v := range vs {
		path := fieldPath(v.Field)
		switch v.Reason {
		case accessv1alpha1.ReasonMissingTag, accessv1alpha1.ReasonJustificationRequired, accessv1alpha1.ReasonRequesterMissing:
			errs = append(errs, field.Required(path, v.Message))
		case policy.ReasonInvalidText, policy.ReasonInvalidServiceAccount, policy.ReasonInvalidRequiredTag:
			errs = append(errs, field.Invalid(path, field.OmitValueType{}, v.Message))
		default:
			errs = append(errs, field.Forbidden(path, v.Message))
		}
	}
	return errs
}

// fieldPath parses the dotted field names the policy package uses
// ("spec.tags.owner", "metadata.annotations[key]"). A tag key may hold
// dots, so what follows spec.tags is one name, written as the controller
// writes it in conditions.
func fieldPath(s string) *field.Path {
	if rest, ok := strings.CutPrefix(s, policy.FieldTags+"."); ok {
		return field.NewPath("spec", "tags", rest)
	}
	if name, key, ok := strings.Cut(s, "["); ok && strings.HasSuffix(key, "]") {
		return fieldPath(name).Key(strings.TrimSuffix(key, "]"))
	}
	parts := strings.Split(s, ".")
	return field.NewPath(parts[0], parts[1:]...)
}
