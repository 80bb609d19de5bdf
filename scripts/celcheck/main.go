// celcheck evaluates restore-guard's CEL (the webhooks' matchConditions and the companion
// ValidatingAdmissionPolicy) with kube-apiserver's own admission CEL code (k8s.io/apiserver), so the
// manifests' expressions are compiled in the same environment as the API server does on create and
// evaluated the same way it does on admission. It reads one JSON document on stdin:
//
//	{"mutatingWebhookConfiguration": {...}, "validatingWebhookConfiguration": {...},
//	 "validatingAdmissionPolicy": {...},
//	 "cases": [{"name", "operation", "subResource", "namespace", "user", "groups",
//	            "object", "oldObject", "grants": [{"user", "verb", "group", "resource", "namespace", "name"}]}]}
//
// and writes the compile errors and, per case, whether each webhook would be called and the policy's
// decisions. Used by test/integration/deploy-cel.test.ts; built by scripts/ensure-celcheck.sh.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/cel/environment"
)

type grant struct {
	User        string `json:"user"`
	Verb        string `json:"verb"`
	Group       string `json:"group"`
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
}

// resource is what a case creates or updates: a core Pod unless it says otherwise (a checkpoint object).
type resource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
	Kind     string `json:"kind"`
}

type testCase struct {
	Name        string                 `json:"name"`
	Operation   string                 `json:"operation"`
	SubResource string                 `json:"subResource"`
	Namespace   string                 `json:"namespace"`
	User        string                 `json:"user"`
	Groups      []string               `json:"groups"`
	Object      map[string]interface{} `json:"object"`
	OldObject   map[string]interface{} `json:"oldObject"`
	Grants      []grant                `json:"grants"`
	Resource    *resource              `json:"resource"`
	// Typed decodes the objects into this API server's corev1.Pod, as kube-apiserver does: a field it does
	// not know (restoreFrom before v1.38) is dropped, which is what a cluster without the feature sees.
	Typed bool `json:"typed"`
}

type input struct {
	Mutating   *admissionregistrationv1.MutatingWebhookConfiguration   `json:"mutatingWebhookConfiguration"`
	Validating *admissionregistrationv1.ValidatingWebhookConfiguration `json:"validatingWebhookConfiguration"`
	Policy     *admissionregistrationv1.ValidatingAdmissionPolicy      `json:"validatingAdmissionPolicy"`
	Cases      []testCase                                              `json:"cases"`
}

type webhookResult struct {
	Matches bool   `json:"matches"`
	Error   string `json:"error,omitempty"`
}

type decision struct {
	Action     string `json:"action"`
	Evaluation string `json:"evaluation"`
	Message    string `json:"message"`
	Reason     string `json:"reason"`
}

// authzCheck is a question the authorizer was asked (a grant's fields, flattened in JSON) and its answer.
type authzCheck struct {
	grant
	Allowed bool `json:"allowed"`
}

type caseResult struct {
	Name        string                   `json:"name"`
	Webhooks    map[string]webhookResult `json:"webhooks"`
	Decisions   []decision               `json:"decisions"`
	AuthzChecks []authzCheck             `json:"authzChecks"`
}

type output struct {
	CompileErrors []string     `json:"compileErrors"`
	Results       []caseResult `json:"results"`
}

// grantsAuthorizer allows exactly the listed grants and records every question it is asked.
type grantsAuthorizer struct {
	grants []grant
	checks *[]authzCheck
}

func (g grantsAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	asked := grant{User: a.GetUser().GetName(), Verb: a.GetVerb(), Group: a.GetAPIGroup(), Resource: a.GetResource(), Subresource: a.GetSubresource(), Namespace: a.GetNamespace(), Name: a.GetName()}
	check := authzCheck{grant: asked}
	for _, candidate := range g.grants {
		// A grant without a name covers every object; otherwise every field must match.
		if candidate.Name == "" {
			candidate.Name = asked.Name
		}
		if candidate == asked {
			check.Allowed = true
		}
	}
	*g.checks = append(*g.checks, check)
	if check.Allowed {
		return authorizer.DecisionAllow, "granted by the test case", nil
	}
	return authorizer.DecisionNoOpinion, "no grant in the test case", nil
}

type compiledWebhook struct {
	name    string
	matcher matchconditions.Matcher
}

// The API server compiles new objects' expressions in the NewExpressions environment (stricter than the
// StoredExpressions one it evaluates with), so an expression that compiles here is accepted on create.
func compileWebhook(compiler plugincel.ConditionCompiler, name string, conditions []admissionregistrationv1.MatchCondition, failurePolicy *admissionregistrationv1.FailurePolicyType, errs *[]string) compiledWebhook {
	expressions := make([]plugincel.ExpressionAccessor, len(conditions))
	for i, condition := range conditions {
		expressions[i] = &matchconditions.MatchCondition{Name: condition.Name, Expression: condition.Expression}
	}
	evaluator := compiler.CompileCondition(expressions, plugincel.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}, environment.NewExpressions)
	for _, err := range evaluator.CompilationErrors() {
		*errs = append(*errs, fmt.Sprintf("webhook %s: %v", name, err))
	}
	return compiledWebhook{name: name, matcher: matchconditions.NewMatcher(evaluator, failurePolicy, "webhook", "admit", name)}
}

func compilePolicy(policy *admissionregistrationv1.ValidatingAdmissionPolicy, errs *[]string) validating.Validator {
	optionalVars := plugincel.OptionalVariableDeclarations{HasParams: policy.Spec.ParamKind != nil, HasAuthorizer: true}
	messageVars := plugincel.OptionalVariableDeclarations{HasParams: policy.Spec.ParamKind != nil, HasAuthorizer: false}
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		*errs = append(*errs, err.Error())
		return nil
	}
	variables := make([]plugincel.NamedExpressionAccessor, len(policy.Spec.Variables))
	for i, variable := range policy.Spec.Variables {
		variables[i] = &validating.Variable{Name: variable.Name, Expression: variable.Expression}
		result := compiler.CompileAndStoreVariable(variables[i], optionalVars, environment.NewExpressions)
		if result.Error != nil {
			*errs = append(*errs, fmt.Sprintf("policy variable %s: %v", variable.Name, result.Error))
		}
	}
	collect := func(what string, evaluator plugincel.ConditionEvaluator) plugincel.ConditionEvaluator {
		for _, err := range evaluator.CompilationErrors() {
			*errs = append(*errs, fmt.Sprintf("policy %s: %v", what, err))
		}
		return evaluator
	}
	var matcher matchconditions.Matcher
	if len(policy.Spec.MatchConditions) > 0 {
		expressions := make([]plugincel.ExpressionAccessor, len(policy.Spec.MatchConditions))
		for i := range policy.Spec.MatchConditions {
			expressions[i] = (*matchconditions.MatchCondition)(&policy.Spec.MatchConditions[i])
		}
		matcher = matchconditions.NewMatcher(collect("matchConditions", compiler.CompileCondition(expressions, optionalVars, environment.NewExpressions)), policy.Spec.FailurePolicy, "policy", "validate", policy.Name)
	}
	validations := make([]plugincel.ExpressionAccessor, len(policy.Spec.Validations))
	messages := make([]plugincel.ExpressionAccessor, len(policy.Spec.Validations))
	for i, validation := range policy.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: validation.Expression, Message: validation.Message, Reason: validation.Reason}
		if validation.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: validation.MessageExpression}
		}
	}
	return validating.NewValidator(
		collect("validations", compiler.CompileCondition(validations, optionalVars, environment.NewExpressions)),
		matcher,
		collect("auditAnnotations", compiler.CompileCondition(nil, optionalVars, environment.NewExpressions)),
		collect("messageExpressions", compiler.CompileCondition(messages, messageVars, environment.NewExpressions)),
		policy.Spec.FailurePolicy,
		nil,
	)
}

func asObject(content map[string]interface{}, typed bool) runtime.Object {
	if content == nil {
		return nil
	}
	if typed {
		pod := &corev1.Pod{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, pod); err != nil {
			panic(fmt.Sprintf("not a Pod: %v", err))
		}
		return pod
	}
	return &unstructured.Unstructured{Object: content}
}

func run() error {
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		return fmt.Errorf("reading the input: %w", err)
	}
	out := output{CompileErrors: []string{}, Results: []caseResult{}}
	conditionCompiler := plugincel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	var webhooks []compiledWebhook
	if in.Mutating != nil {
		for _, webhook := range in.Mutating.Webhooks {
			webhooks = append(webhooks, compileWebhook(conditionCompiler, webhook.Name, webhook.MatchConditions, webhook.FailurePolicy, &out.CompileErrors))
		}
	}
	if in.Validating != nil {
		for _, webhook := range in.Validating.Webhooks {
			webhooks = append(webhooks, compileWebhook(conditionCompiler, webhook.Name, webhook.MatchConditions, webhook.FailurePolicy, &out.CompileErrors))
		}
	}
	var policy validating.Validator
	if in.Policy != nil {
		policy = compilePolicy(in.Policy, &out.CompileErrors)
	}

	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	podKind := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	for _, c := range in.Cases {
		checks := []authzCheck{}
		authz := grantsAuthorizer{grants: c.Grants, checks: &checks}
		userInfo := &user.DefaultInfo{Name: c.User, Groups: c.Groups}
		name := ""
		if c.Object != nil {
			name, _, _ = unstructured.NestedString(c.Object, "metadata", "name")
		}
		object, oldObject := asObject(c.Object, c.Typed), asObject(c.OldObject, c.Typed)
		gvr, gvk := pods, podKind
		if c.Resource != nil {
			gvr = schema.GroupVersionResource{Group: c.Resource.Group, Version: c.Resource.Version, Resource: c.Resource.Resource}
			gvk = schema.GroupVersionKind{Group: c.Resource.Group, Version: c.Resource.Version, Kind: c.Resource.Kind}
		}
		attributes := admission.NewAttributesRecord(object, oldObject, gvk, c.Namespace, name, gvr, c.SubResource,
			admission.Operation(c.Operation), nil, false, userInfo)
		versioned := &admission.VersionedAttributes{
			Attributes:         attributes,
			VersionedKind:      gvk,
			VersionedObject:    admission.NewLazyObject(object),
			VersionedOldObject: admission.NewLazyObject(oldObject),
		}
		result := caseResult{Name: c.Name, Webhooks: map[string]webhookResult{}, Decisions: []decision{}}
		for _, webhook := range webhooks {
			match := webhook.matcher.Match(context.Background(), versioned, nil, authz)
			entry := webhookResult{Matches: match.Matches}
			if match.Error != nil {
				entry.Error = match.Error.Error()
			}
			result.Webhooks[webhook.name] = entry
		}
		if policy != nil {
			namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.Namespace, Labels: map[string]string{"kubernetes.io/metadata.name": c.Namespace}}}
			validated := policy.Validate(context.Background(), gvr, versioned, nil, namespace, celconfig.RuntimeCELCostBudget, authz)
			for _, d := range validated.Decisions {
				result.Decisions = append(result.Decisions, decision{Action: string(d.Action), Evaluation: string(d.Evaluation), Message: d.Message, Reason: string(d.Reason)})
			}
		}
		result.AuthzChecks = checks
		out.Results = append(out.Results, result)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	return encoder.Encode(out)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "celcheck:", err)
		os.Exit(1)
	}
}
