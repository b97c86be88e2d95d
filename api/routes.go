package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
)

// This file is every route of the API: its path, the roles that may call
// it, its input and answers, and the starter call behind it.

// StartedOrder identifies the workflow run of a started order.
type StartedOrder struct {
	OrderID    string `json:"orderId" doc:"The order's ID."`
	WorkflowID string `json:"workflowId" doc:"Its Temporal workflow ID: termination-<orderId>."`
	RunID      string `json:"runId" doc:"Its Temporal run ID."`
}

// OrderPage is one page of a listing, newest first.
type OrderPage struct {
	Orders []starter.Summary `json:"orders"`
	// NextPageToken continues the listing; absent on the last page.
	NextPageToken string `json:"nextPageToken,omitempty" doc:"Pass as pageToken for the next page; absent on the last page."`
}

// OrderMessages is what the order details page shows, read from the status store.
type OrderMessages struct {
	OrderID string `json:"orderId"`
	// Latest is the message the page shows now.
	Latest StatusMessage `json:"latest" doc:"The message the order page shows now."`
	// Messages are every message of the order, oldest first.
	Messages []StatusMessage `json:"messages" doc:"Every status message of the order, oldest first."`
}

// StatusMessage is one customer-facing status message.
type StatusMessage struct {
	Seq         int               `json:"seq"`
	Stage       order.Stage       `json:"stage"`
	OrderStatus order.OrderStatus `json:"orderStatus"`
	Message     string            `json:"message"`
	OccurredAt  time.Time         `json:"occurredAt"`
}

const rolesKey = "roles"

var (
	readers      = []Role{RoleBackend, RoleOperations, RoleReader}
	listers      = []Role{RoleOperations, RoleReader}
	backendOnly  = []Role{RoleBackend}
	operationsOn = []Role{RoleOperations}
)

type orderPath struct {
	OrderID string `path:"orderId" doc:"The order's ID (1-100 letters, digits, '-', '_', '.')."`
}

type accountPath struct {
	AccountID string `path:"accountId" doc:"The AWS account ID (12 digits)."`
}

type postInput struct {
	OrderID        string `path:"orderId" doc:"The order's ID."`
	IdempotencyKey string `header:"Idempotency-Key" doc:"Makes the request safe to retry: the same key gets the original answer; with another body, 422. 1-100 letters, digits, '-', '_', '.' (a UUID fits). For unlink, reopen and cancel it is the request ID."`
	RawBody        []byte `contentType:"application/json"`
}

type startInput struct {
	IdempotencyKey string `header:"Idempotency-Key" doc:"Makes the start safe to retry: the same key gets the original run (201); with another body, 422. 1-100 letters, digits, '-', '_', '.' (a UUID fits)."`
	RawBody        []byte `contentType:"application/json"`
}

// posted is the answer of a POST; it is what an idempotency key replays.
type posted[T any] struct {
	Status   int    `json:"status"`
	Location string `header:"Location" json:"location,omitempty"`
	Body     T      `json:"body"`
}

type statusOutput struct {
	Body order.Status
}

type listInput struct {
	Stage          string `query:"stage" enum:"AwaitingUnlink,Closing,PostClosure,Reopened,PermanentlyClosed,Cancelled,Failed" doc:"Keep the orders in this stage."`
	AccountID      string `query:"accountId" doc:"Keep the orders of this AWS account (12 digits)."`
	SubscriptionID string `query:"subscriptionId" doc:"Keep the orders of this subscription."`
	PageSize       int    `query:"pageSize" minimum:"1" maximum:"1000" doc:"Orders per page (default 100)."`
	PageToken      string `query:"pageToken" doc:"nextPageToken of the previous page."`
	Overdue        bool   `query:"overdue" doc:"Keep the orders awaiting an unlink past their SLA deadline (UnlinkDueBy); stage must then be empty or AwaitingUnlink."`
}

func (s *Server) routes(api huma.API) {
	s.register(api, huma.Operation{
		OperationID: "startOrder", Method: http.MethodPost, Path: "/v1/orders",
		Summary: "start an order", DefaultStatus: http.StatusCreated,
		Description: "Starts the termination order's workflow and answers once it is accepted or refused. 201 with the order's Location and run; " +
			"409 order-exists naming the existing run; 409 account-in-termination (holdingOrderId, holdingStage) when another order holds the AWS account, " +
			"account-closed-for-good (holdingOrderId, closedForGoodAt) when it was closed for good, order-already-processed when the order lived before " +
			"beyond Temporal's retention: nothing is started for a refused order; 400 invalid-input listing every broken field.",
		Errors: []int{400, 401, 403, 409, 413, 422, 503, 504},
	}, backendOnly, bodySchema[order.Order]("Order"), s.start)
	huma.Register(api, s.op(huma.Operation{
		OperationID: "getOrder", Method: http.MethodGet, Path: "/v1/orders/{orderId}",
		Summary: "read an order",
		Description: "The order's status with its timeline and deadlines, read from the status store and Temporal's record of the order: " +
			"it answers while workers are stopped or busy, and is never older than the status store. " +
			"AWS's answers are those up to the order's latest status change; /live has the ones since. 404 for an unknown order.",
		Errors: []int{400, 401, 403, 404, 503},
	}, readers), s.status)
	huma.Register(api, s.op(huma.Operation{
		OperationID: "getOrderLive", Method: http.MethodGet, Path: "/v1/orders/{orderId}/live",
		Summary: "read an order from its workflow",
		Description: "The order's status as its workflow holds it: a running order answers its status query, which needs a worker " +
			"(503 when none answers in time), a finished one its result. It also has AWS's answers since the latest status change.",
		Errors: []int{400, 401, 403, 404, 503},
	}, readers), s.liveStatus)
	huma.Register(api, s.op(huma.Operation{
		OperationID: "getOrderMessages", Method: http.MethodGet, Path: "/v1/orders/{orderId}/messages",
		Summary:     "read an order's status messages",
		Description: "What the order details page shows, read from the status store: it answers while Temporal is down.",
		Errors:      []int{400, 401, 403, 404, 503},
	}, readers), s.messages)
	huma.Register(api, s.op(huma.Operation{
		OperationID: "getAccount", Method: http.MethodGet, Path: "/v1/accounts/{accountId}",
		Summary: "read an AWS account",
		Description: "Where the AWS account stands with termination orders, read from the status store: state Free, InTermination " +
			"(holder: the order that holds it, at its stage) or ClosedForGood (holder: the order that closed it, endedAt the date), " +
			"and every order that held it, newest first. An account no order ever held is Free. 400 invalid-input for an ID that is not 12 digits.",
		Errors: []int{400, 401, 403, 503},
	}, readers), s.account)
	huma.Register(api, s.op(huma.Operation{
		OperationID: "listOrders", Method: http.MethodGet, Path: "/v1/orders",
		Summary:     "list orders",
		Description: "One page of orders, newest first, through Temporal's search attributes (eventually consistent: a stage change shows after a moment).",
		Errors:      []int{400, 401, 403, 503},
	}, listers), s.list)
	s.register(api, huma.Operation{
		OperationID: "confirmUnlink", Method: http.MethodPost, Path: "/v1/orders/{orderId}/unlink",
		Summary:     "confirm the unlink",
		Description: "Operations report that the account was unlinked and closed. 200 with the status and its reopen deadline; 409 already-unlinked on a repeat (nothing changed), rejected-by-stage for a cancelled or failed order.",
		Errors:      []int{400, 401, 403, 404, 409, 413, 422, 503, 504},
	}, operationsOn, bodySchema[order.UnlinkCompleted]("UnlinkCompleted"), s.unlink)
	s.register(api, huma.Operation{
		OperationID: "reopen", Method: http.MethodPost, Path: "/v1/orders/{orderId}/reopen",
		Summary:     "reopen the account",
		Description: "Reopens the account during its post-closure period. 409 closed-for-good once the window is over; rejected-by-stage in any other stage.",
		Errors:      []int{400, 401, 403, 404, 409, 413, 422, 503, 504},
	}, backendOnly, bodySchema[order.Request]("Request"), s.reopen)
	s.register(api, huma.Operation{
		OperationID: "cancel", Method: http.MethodPost, Path: "/v1/orders/{orderId}/cancel",
		Summary:     "cancel the order",
		Description: "Cancels the order before the unlink. 409 rejected-by-stage from the unlink on (the detail says to reopen instead).",
		Errors:      []int{400, 401, 403, 404, 409, 413, 422, 503, 504},
	}, backendOnly, bodySchema[order.Request]("Request"), s.cancel)
}

// op marks the operation with the roles that may call it, for authorize and
// for the OpenAPI document.
func (s *Server) op(op huma.Operation, roles []Role) huma.Operation {
	op.Metadata = map[string]any{rolesKey: roles}
	op.Security = []map[string][]string{{securityScheme: {}}}
	op.Description += " Roles: " + roleList(roles) + "."
	op.MaxBodyBytes = s.cfg.MaxBodyBytes + 1 // huma refuses a body that reaches its limit
	// Bodies are decoded and checked by the handlers, field by field, so
	// that every broken field is named at once (huma stops at the first).
	op.SkipValidateBody = true
	return op
}

// register registers a POST whose raw body the handler decodes itself (so
// every broken field is reported at once), and documents the body's schema.
func (s *Server) register(api huma.API, op huma.Operation, roles []Role, schema func(huma.Registry) *huma.Schema, handler any) {
	op = s.op(op, roles)
	switch h := handler.(type) {
	case func(context.Context, *startInput) (*posted[StartedOrder], error):
		huma.Register(api, op, h)
	case func(context.Context, *postInput) (*posted[order.Status], error):
		huma.Register(api, op, h)
	default:
		panic(fmt.Sprintf("api: no registration for %T", handler))
	}
	doc := api.OpenAPI().Paths[op.Path].Post
	doc.RequestBody.Content["application/json"].Schema = schema(api.OpenAPI().Components.Schemas)
	documentHeaders(doc, op.DefaultStatus)
}

func bodySchema[T any](name string) func(huma.Registry) *huma.Schema {
	return func(r huma.Registry) *huma.Schema {
		return r.Schema(reflect.TypeFor[T](), true, name)
	}
}

func (s *Server) start(ctx context.Context, in *startInput) (*posted[StartedOrder], error) {
	var o order.Order
	fields := decodeStrict(in.RawBody, &o)
	if !notAnObject(fields) {
		fields = merge(fields, validateOrderJSON(in.RawBody, s.now()))
	}
	if len(fields) > 0 {
		return nil, invalid("invalid termination order", fields...)
	}
	infoOf(ctx).orderID = o.OrderID
	if p := checkKey(in.IdempotencyKey); p != nil {
		return nil, p
	}
	return idempotent(ctx, s, in.IdempotencyKey, requestHash(http.MethodPost, "/v1/orders", in.RawBody),
		func(ctx context.Context, retry bool) (*posted[StartedOrder], error) {
			run, err := s.orders.Start(ctx, o)
			if err != nil {
				p := problemFor(err)
				if p.Type != TypeOrderExists {
					return nil, p
				}
				if !retry {
					p.ExistingRun = &StartedOrder{OrderID: run.OrderID, WorkflowID: run.WorkflowID, RunID: run.RunID}
					return nil, p
				}
				// A retry of a start with the same key and body whose first
				// answer was lost: the order it started is the original run,
				// and its acceptance (awaited if still under way) the answer.
				if err := s.orders.Accepted(ctx, o.OrderID, run.RunID); err != nil {
					return nil, problemFor(err)
				}
			}
			return &posted[StartedOrder]{
				Status:   http.StatusCreated,
				Location: "/v1/orders/" + run.OrderID,
				Body:     StartedOrder{OrderID: run.OrderID, WorkflowID: run.WorkflowID, RunID: run.RunID},
			}, nil
		})
}

func (s *Server) status(ctx context.Context, in *orderPath) (*statusOutput, error) {
	infoOf(ctx).orderID = in.OrderID
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.orders.Status(ctx, in.OrderID)
	if err != nil {
		return nil, problemFor(err)
	}
	return &statusOutput{Body: st}, nil
}

func (s *Server) liveStatus(ctx context.Context, in *orderPath) (*statusOutput, error) {
	infoOf(ctx).orderID = in.OrderID
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.orders.LiveStatus(ctx, in.OrderID)
	if err != nil {
		return nil, problemFor(err)
	}
	return &statusOutput{Body: st}, nil
}

func (s *Server) messages(ctx context.Context, in *orderPath) (*struct{ Body OrderMessages }, error) {
	infoOf(ctx).orderID = in.OrderID
	if err := order.CheckOrderID(in.OrderID); err != nil {
		return nil, problemFor(err)
	}
	msgs, err := s.store.Timeline(ctx, in.OrderID)
	if err != nil {
		return nil, storeProblem(err)
	}
	if len(msgs) == 0 {
		return nil, newProblem(TypeNotFound, http.StatusNotFound, "no status message for order "+in.OrderID)
	}
	out := OrderMessages{OrderID: in.OrderID, Messages: make([]StatusMessage, len(msgs))}
	for i, m := range msgs {
		out.Messages[i] = StatusMessage{Seq: m.Seq, Stage: m.Stage, OrderStatus: m.OrderStatus, Message: m.Text, OccurredAt: m.OccurredAt}
	}
	out.Latest = out.Messages[len(out.Messages)-1]
	return &struct{ Body OrderMessages }{out}, nil
}

func (s *Server) account(ctx context.Context, in *accountPath) (*struct{ Body order.Account }, error) {
	if err := starter.CheckAccountID(in.AccountID); err != nil {
		return nil, problemFor(err)
	}
	a, err := s.store.Account(ctx, in.AccountID)
	if err != nil {
		return nil, storeProblem(err)
	}
	return &struct{ Body order.Account }{a}, nil
}

// pageToken is the listing's page token as the API hands it out: Temporal's
// token with the query it continues, so that a token that is not one of
// ours, or of another listing, is refused as invalid input.
type pageToken struct {
	Query string `json:"q"`
	Token []byte `json:"t"`
}

func (s *Server) list(ctx context.Context, in *listInput) (*struct{ Body OrderPage }, error) {
	req := starter.ListRequest{
		Filter: starter.Filter{AccountID: in.AccountID, SubscriptionID: in.SubscriptionID},
		Stage:  order.Stage(in.Stage), PageSize: in.PageSize, Overdue: in.Overdue,
	}
	// A page token continues the listing it came from, and no other.
	listing := req.Query()
	if in.Overdue {
		listing += " (overdue)"
	}
	if in.PageToken != "" {
		var tok pageToken
		raw, err := base64.RawURLEncoding.DecodeString(in.PageToken)
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil || tok.Query != listing || len(tok.Token) == 0 {
			return nil, invalid("invalid listing", &order.FieldError{Field: "pageToken", Rule: "is not a nextPageToken of this listing (same stage, accountId, subscriptionId and overdue)"})
		}
		req.PageToken = tok.Token
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	page, err := s.orders.List(ctx, req)
	if err != nil {
		return nil, problemFor(err)
	}
	out := OrderPage{Orders: page.Orders}
	if len(page.NextPageToken) > 0 {
		b, err := json.Marshal(pageToken{Query: listing, Token: page.NextPageToken})
		if err != nil {
			return nil, err
		}
		out.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
	}
	return &struct{ Body OrderPage }{out}, nil
}

func (s *Server) unlink(ctx context.Context, in *postInput) (*posted[order.Status], error) {
	var u order.UnlinkCompleted
	return s.update(ctx, in, "unlink", &u, &u.RequestID, func() error { return u.Validate(s.now()) },
		func(ctx context.Context) (order.Status, error) { return s.orders.ConfirmUnlink(ctx, in.OrderID, u) })
}

func (s *Server) reopen(ctx context.Context, in *postInput) (*posted[order.Status], error) {
	return s.request(ctx, in, "reopen", s.orders.Reopen)
}

func (s *Server) cancel(ctx context.Context, in *postInput) (*posted[order.Status], error) {
	return s.request(ctx, in, "cancel", s.orders.Cancel)
}

// request is a person's reopen or cancel request (name), sent with send.
func (s *Server) request(ctx context.Context, in *postInput, name string,
	send func(context.Context, string, order.Request) (order.Status, error)) (*posted[order.Status], error) {
	var r order.Request
	return s.update(ctx, in, name, &r, &r.RequestID, func() error { return r.Validate(name) },
		func(ctx context.Context) (order.Status, error) { return send(ctx, in.OrderID, r) })
}

// update decodes and checks an update's body into body, makes the
// Idempotency-Key its request ID, and sends it.
func (s *Server) update(ctx context.Context, in *postInput, name string, body any, requestID *string, validate func() error,
	send func(ctx context.Context) (order.Status, error)) (*posted[order.Status], error) {
	infoOf(ctx).orderID = in.OrderID
	fields := decodeStrict(in.RawBody, body)
	if !notAnObject(fields) {
		fields = merge(fields, validate())
	}
	fields = merge(fields, order.CheckOrderID(in.OrderID))
	if p := checkKey(in.IdempotencyKey); p != nil {
		return nil, p
	}
	switch {
	case in.IdempotencyKey == "":
	case *requestID == "":
		*requestID = in.IdempotencyKey
	case *requestID != in.IdempotencyKey:
		fields = append(fields, &order.FieldError{Field: "requestId", Rule: "must equal the Idempotency-Key header when both are given"})
	}
	if len(fields) > 0 {
		return nil, invalid("invalid "+name+" request", fields...)
	}
	return idempotent(ctx, s, in.IdempotencyKey, requestHash(http.MethodPost, "/v1/orders/"+in.OrderID+"/"+name, in.RawBody),
		func(ctx context.Context, _ bool) (*posted[order.Status], error) {
			st, err := send(ctx)
			if err != nil {
				return nil, problemFor(err)
			}
			return &posted[order.Status]{Status: http.StatusOK, Body: st}, nil
		})
}

// requestHash identifies a request for its idempotency key: the same method,
// path and JSON value (whatever its spacing or key order) hash the same.
func requestHash(method, path string, body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err == nil {
		if canonical, err := json.Marshal(v); err == nil {
			body = canonical
		}
	}
	return HashKey(method + " " + path + "\n" + string(body))
}
