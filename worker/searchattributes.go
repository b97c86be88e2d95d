package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/termination-orders/workflows"
)

// CheckSearchAttributes fails when the namespace lacks one of the contract's
// search attributes: without them every stage change would fail its workflow
// task and orders would stall. Where the caller may not list them (a Cloud API
// key without admin rights), the check is left to the first workflow task.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		var denied *serviceerror.PermissionDenied
		if errors.As(err, &denied) {
			return nil
		}
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	var missing, commands []string
	for _, key := range workflows.SearchAttributes {
		if got, ok := resp.GetCustomAttributes()[key.GetName()]; !ok || got != key.GetValueType() {
			missing = append(missing, fmt.Sprintf("%s (%s)", key.GetName(), key.GetValueType().String()))
			commands = append(commands, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s",
				namespace, key.GetName(), key.GetValueType().String()))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("namespace %s lacks search attributes %s; create them with:\n  %s",
			namespace, strings.Join(missing, ", "), strings.Join(commands, "\n  "))
	}
	return nil
}

// RegisterSearchAttributes creates the contract's search attributes that the
// namespace lacks.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributes))
	for _, key := range workflows.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = key.GetValueType()
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes in namespace %s: %w", namespace, err)
	}
	return nil
}
