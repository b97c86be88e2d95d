// Package cli is terminationctl, the command line over package starter: what
// Operations and developers use to start, confirm, reopen, cancel and inspect
// termination orders.
package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/cloudmarket/termination-orders/app"
	"github.com/cloudmarket/termination-orders/config"
	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

// Exit codes, so that scripts can tell outcomes apart.
const (
	ExitOK        = 0
	ExitFailure   = 1 // connection or server trouble
	ExitInvalid   = 2 // bad input or configuration: nothing was sent
	ExitRejected  = 3 // the order exists already, or its stage does not allow the request
	ExitNotFound  = 4 // no such order
	ExitUnknown   = 5 // no answer in time: the request may or may not have been applied
	ExitRefused   = 6 // the order was refused: its AWS account is held by another order or closed for good
	ExitAWSActive = 7 // an unlink was refused: AWS Organizations reports the account ACTIVE
)

// Run executes terminationctl with args and returns its exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &ctl{stdin: stdin}
	root := c.commands()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if c.cancel != nil {
		c.cancel()
	}
	if c.temporal != nil {
		c.temporal.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "terminationctl:", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var verr *order.ValidationError
	var usage usageError
	switch {
	case errors.As(err, &verr), errors.As(err, &usage), errors.Is(err, starter.ErrInvalid):
		return ExitInvalid
	case errors.Is(err, starter.ErrOutcomeUnknown):
		return ExitUnknown
	case errors.Is(err, starter.ErrOrderNotFound):
		return ExitNotFound
	case errors.Is(err, starter.ErrAccountInTermination), errors.Is(err, starter.ErrAccountClosedForGood):
		return ExitRefused
	case errors.Is(err, starter.ErrAWSAccountActive):
		return ExitAWSActive
	case errors.Is(err, starter.ErrOrderExists), errors.Is(err, starter.ErrRejected), errors.Is(err, starter.ErrOrderAlreadyProcessed):
		return ExitRejected
	default:
		return ExitFailure
	}
}

// usageError is bad input found by the command itself (not by the domain).
type usageError struct{ error }

// ctl is terminationctl while it runs: its settings, logger and connection.
type ctl struct {
	cancel   context.CancelFunc
	stdin    io.Reader
	app      app.App
	logger   *zap.Logger
	temporal client.Client
	// store is the status store the status command reads, once opened.
	store *store.Store
}

func (a *ctl) commands() *cobra.Command {
	root := &cobra.Command{
		Use:   "terminationctl",
		Short: "Start and follow AWS account termination orders",
		Long: "terminationctl starts termination orders and drives them through their life:\n" +
			"Operations' unlink report, reopening during the post-closure period, cancelling before the unlink.\n" +
			"Settings come from flags, TERMINATION_* variables, a --config YAML file and TEMPORAL_* variables.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := app.Load(cmd.Flags(), config.CLI)
			if err != nil {
				return usageError{err}
			}
			timeout, _ := cmd.Flags().GetDuration("timeout")
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout must be positive, got %s", timeout)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			a.cancel = cancel
			cmd.SetContext(ctx)
			a.app = loaded
			a.logger, err = loaded.Logger()
			return err
		},
	}
	app.RegisterFlags(root.PersistentFlags(), config.CLI)
	root.PersistentFlags().Duration("timeout", 30*time.Second, "give up on a command that takes longer (a Temporal server that does not answer)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.startCommand(), a.unlinkCommand(), a.reopenCommand(), a.cancelCommand(),
		a.statusCommand(), a.listCommand(), a.messagesCommand(), a.accountCommand())
	return root
}

// orders returns the starter client. The connection is lazy: it is made by the
// first call that reaches Temporal, so input rejected before that makes none.
func (a *ctl) orders() (*starter.Client, error) {
	if a.temporal == nil {
		opts, err := a.app.ClientOptions(a.logger)
		if err != nil {
			return nil, usageError{err}
		}
		c, err := client.NewLazyClient(opts)
		if err != nil {
			return nil, fmt.Errorf("connect to Temporal at %s: %w", a.app.Config.Temporal.Address, err)
		}
		a.temporal = c
	}
	return a.app.Orders(a.temporal, nil), nil
}

// statusReader returns the starter client that reads statuses from the
// status store. Where the store cannot be opened (no SQLite file here, a
// database that does not answer), statuses come from the workflows, and the
// log says why.
func (a *ctl) statusReader(ctx context.Context) (*starter.Client, error) {
	orders, err := a.orders()
	if err != nil {
		return nil, err
	}
	if a.store == nil {
		st, err := a.openStore(ctx)
		if err != nil {
			a.logger.Warn("Status store not readable: the status comes from the order's workflow", zap.Error(err))
			return orders, nil
		}
		a.store = st
	}
	return a.app.Orders(a.temporal, a.store), nil
}

func (a *ctl) startCommand() *cobra.Command {
	var (
		o     order.Order
		items []string
		file  string
	)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Place a termination order (close the AWS account permanently)",
		Example: "  terminationctl start --order-id ORD-4821-3307 --subscription-id SUB-1190-2291 \\\n" +
			"    --account-id 123456789012 --item ITM-1 --requested-by jane.doe@example.com\n" +
			"  terminationctl start --file order.json   # the start input as JSON; - reads stdin",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				if n := countSet(cmd, orderFlags...); n > 0 {
					return usageError{errors.New("--file takes the whole order: do not combine it with --order-id, --account-id and the other order flags")}
				}
				read, err := a.readOrder(file)
				if err != nil {
					return err
				}
				o = read
			} else {
				o.TerminationType = order.TerminationTypeCloseAccount
				for _, id := range items {
					o.Items = append(o.Items, order.Item{ItemID: id, Quantity: 0})
				}
			}
			orders, err := a.orders()
			if err != nil {
				return err
			}
			run, err := orders.Start(cmd.Context(), o)
			var refused *starter.AccountRefusedError
			if errors.As(err, &refused) {
				return fmt.Errorf("%w (see terminationctl account %s)", err, o.AccountID)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Started termination order %s: workflow %s, run %s\n", run.OrderID, run.WorkflowID, run.RunID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.OrderID, "order-id", "", "marketplace order ID")
	f.StringVar(&o.SubscriptionID, "subscription-id", "", "subscription being terminated")
	f.StringVar(&o.AccountID, "account-id", "", "12-digit AWS account ID")
	f.StringArrayVar(&items, "item", nil, "subscription item ID; repeat for each item (new quantity 0)")
	f.StringVar(&o.RequestedBy, "requested-by", "", "who placed the order")
	f.StringVar(&o.SubmittedAt, "submitted-at", "", "when the order was placed, RFC 3339 (optional)")
	f.StringVar(&file, "file", "", "read the whole start input as JSON from this file (- for stdin) instead of flags")
	return cmd
}

var orderFlags = []string{"order-id", "subscription-id", "account-id", "item", "requested-by", "submitted-at"}

func countSet(cmd *cobra.Command, names ...string) int {
	n := 0
	for _, name := range names {
		if cmd.Flags().Changed(name) {
			n++
		}
	}
	return n
}

func (a *ctl) readOrder(file string) (order.Order, error) {
	var r io.Reader = a.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return order.Order{}, usageError{err}
		}
		defer f.Close()
		r = f
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return order.Order{}, usageError{fmt.Errorf("read order from %s: %w", file, err)}
	}
	o, err := order.ParseJSON(body)
	var verr *order.ValidationError
	if err != nil && !errors.As(err, &verr) {
		return order.Order{}, usageError{fmt.Errorf("read order from %s: %w", file, err)}
	}
	return o, err
}

func (a *ctl) unlinkCommand() *cobra.Command {
	var u order.UnlinkCompleted
	cmd := &cobra.Command{
		Use:     "unlink ORDER_ID",
		Short:   "Confirm that Operations unlinked and closed the account (update confirm-unlink)",
		Example: "  terminationctl unlink ORD-4821-3307 --completed-by ops.sam@example.com --reference OPS-7781",
		Args:    exactlyOneOrderID,
		RunE: func(cmd *cobra.Command, args []string) error {
			orders, err := a.orders()
			if err != nil {
				return err
			}
			s, err := orders.ConfirmUnlink(cmd.Context(), args[0], u)
			if errors.Is(err, starter.ErrAlreadyUnlinked) {
				// Reporting twice is harmless: say so and succeed.
				fmt.Fprintln(cmd.OutOrStdout(), err)
				return nil
			}
			if err != nil {
				return err
			}
			if s.Stage == order.StageClosing {
				fmt.Fprintf(cmd.OutOrStdout(), "Unlink of order %s confirmed: AWS account %s is ready to close and AWS is closing it; "+
					"the reopen window starts once AWS reports it suspended (terminationctl status %s).\n", args[0], s.AccountID, args[0])
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Unlink of order %s confirmed: AWS account %s closed on %s; it can be reopened until %s.\n",
				args[0], s.AccountID, order.FormatTime(s.ClosedAt), order.FormatTime(s.ReopenDeadline))
			return nil
		},
	}
	cmd.Flags().StringVar(&u.CompletedBy, "completed-by", "", "who unlinked the account")
	cmd.Flags().StringVar(&u.Reference, "reference", "", "ticket or note documenting the unlink")
	cmd.Flags().StringVar(&u.CompletedAt, "completed-at", "", "when the account was closed, RFC 3339 (default: now)")
	requestIDFlag(cmd, &u.RequestID)
	return cmd
}

func (a *ctl) reopenCommand() *cobra.Command {
	return a.requestCommand(&cobra.Command{
		Use:     "reopen ORDER_ID",
		Short:   "Reopen the account during its post-closure period (update reopen)",
		Example: "  terminationctl reopen ORD-4821-3307 --requested-by jane.doe@example.com --reason 'Still need the account'",
	}, "reopen", (*starter.Client).Reopen)
}

func (a *ctl) cancelCommand() *cobra.Command {
	return a.requestCommand(&cobra.Command{
		Use:     "cancel ORDER_ID",
		Short:   "Cancel the order before the account is unlinked (update cancel)",
		Example: "  terminationctl cancel ORD-4821-3307 --requested-by jane.doe@example.com --reason 'Placed by mistake'",
	}, "cancellation", (*starter.Client).Cancel)
}

// requestCommand makes cmd send a person's request (what they ask for: the
// reopen, the cancellation) with send, and print the order's status.
func (a *ctl) requestCommand(cmd *cobra.Command, what string,
	send func(*starter.Client, context.Context, string, order.Request) (order.Status, error)) *cobra.Command {
	var r order.Request
	cmd.Args = exactlyOneOrderID
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		orders, err := a.orders()
		if err != nil {
			return err
		}
		s, err := send(orders, cmd.Context(), args[0], r)
		if err != nil {
			return err
		}
		return printStatus(cmd.OutOrStdout(), s)
	}
	cmd.Flags().StringVar(&r.RequestedBy, "requested-by", "", "who asks for the "+what)
	cmd.Flags().StringVar(&r.Reason, "reason", "", "why")
	requestIDFlag(cmd, &r.RequestID)
	return cmd
}

func (a *ctl) statusCommand() *cobra.Command {
	var asJSON, live bool
	cmd := &cobra.Command{
		Use:   "status ORDER_ID",
		Short: "Show an order's stage, status message, deadlines and timeline, from the status store (no worker needed)",
		Long: "Show an order's stage, status message, deadlines and timeline. They are read from the status store and Temporal's\n" +
			"record of the order, which answer while workers are stopped or busy. --live asks the order's workflow instead\n" +
			"(its status query, which needs a worker): it also shows AWS's answers since the order's latest status change.",
		Example: "  terminationctl status ORD-4821-3307\n  terminationctl status ORD-4821-3307 --live --json",
		Args:    exactlyOneOrderID,
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				s   order.Status
				err error
			)
			if live {
				orders, oerr := a.orders()
				if oerr != nil {
					return oerr
				}
				s, err = orders.LiveStatus(cmd.Context(), args[0])
			} else {
				orders, oerr := a.statusReader(cmd.Context())
				if oerr != nil {
					return oerr
				}
				s, err = orders.Status(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), s)
			}
			return printStatus(cmd.OutOrStdout(), s)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as GET /v1/orders/{orderId} answers it (the status query's fields)")
	cmd.Flags().BoolVar(&live, "live", false, "ask the order's workflow (its status query; needs a worker for a running order)")
	return cmd
}

func (a *ctl) listCommand() *cobra.Command {
	var (
		stage, token string
		limit        int
		overdue      bool
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List orders, newest first, optionally in one stage (search attribute TerminationStage), a page at a time",
		Example: "  terminationctl list --stage PostClosure --limit 50\n" +
			"  terminationctl list --stage PostClosure --limit 50 --page-token <the token the last page printed>\n" +
			"  terminationctl list --overdue     # awaiting an unlink past its SLA deadline\n" +
			"  # the same in the Web UI or the Temporal CLI: " + starter.ListQuery(order.StagePostClosure) + "\n" +
			"  # overdue: " + starter.OverdueQuery(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) + " (with the time now)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > starter.MaxPageSize {
				return usageError{fmt.Errorf("--limit must be between 1 and %d, got %d", starter.MaxPageSize, limit)}
			}
			var pageToken []byte
			if token != "" {
				var err error
				if pageToken, err = base64.RawURLEncoding.DecodeString(token); err != nil {
					return usageError{fmt.Errorf("--page-token is not a token printed by list: %w", err)}
				}
			}
			orders, err := a.orders()
			if err != nil {
				return err
			}
			page, err := orders.List(cmd.Context(), starter.ListRequest{Stage: order.Stage(stage), PageSize: limit, PageToken: pageToken, Overdue: overdue})
			if err != nil {
				return err
			}
			next := base64.RawURLEncoding.EncodeToString(page.NextPageToken)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Orders        []starter.Summary `json:"orders"`
					NextPageToken string            `json:"nextPageToken,omitempty"`
				}{page.Orders, next})
			}
			if err := printList(cmd.OutOrStdout(), page.Orders); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "More orders: add --page-token %s\n", next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "only orders in this stage: AwaitingUnlink, Closing, PostClosure, Reopened, PermanentlyClosed, Cancelled or Failed")
	cmd.Flags().IntVar(&limit, "limit", starter.DefaultPageSize, "at most this many orders (one page)")
	cmd.Flags().StringVar(&token, "page-token", "", "continue after the page that printed this token")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"orders\": [...], \"nextPageToken\"}, with the contract's field names")
	cmd.Flags().BoolVar(&overdue, "overdue", false, "only orders awaiting an unlink past their SLA deadline (UnlinkDueBy)")
	return cmd
}

func requestIDFlag(cmd *cobra.Command, id *string) {
	cmd.Flags().StringVar(id, "request-id", "", "your key for this request: sent again with the same ID, it gets the original answer (default: a new one, printed if the outcome is unknown)")
}

func exactlyOneOrderID(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("expected one ORDER_ID argument, got %d", len(args))}
	}
	return order.CheckOrderID(args[0])
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
