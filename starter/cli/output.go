package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmarket/termination-orders/order"
	"github.com/cloudmarket/termination-orders/starter"
	"github.com/cloudmarket/termination-orders/store"
)

func printStatus(w io.Writer, s order.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Order\t%s (workflow %s)\n", s.OrderID, order.WorkflowID(s.OrderID))
	fmt.Fprintf(tw, "AWS account\t%s, subscription %s\n", s.AccountID, s.SubscriptionID)
	fmt.Fprintf(tw, "Stage\t%s (order status %s)\n", s.Stage, s.OrderStatus)
	if !s.ClosedAt.IsZero() {
		fmt.Fprintf(tw, "Closed at\t%s\n", order.FormatTime(s.ClosedAt))
		fmt.Fprintf(tw, "Reopen by\t%s\n", order.FormatTime(s.ReopenDeadline))
	}
	fmt.Fprintf(tw, "Message\t%s\n", s.StatusMessage)
	if len(s.AWS) > 0 {
		fmt.Fprintf(tw, "AWS\t%s\n", s.AWS[len(s.AWS)-1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nTimeline")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range s.Timeline {
		msg := e.Message
		if e.AWS != nil {
			msg += " [AWS: " + e.AWS.String() + "]"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", e.Seq, order.FormatTime(e.Time), e.Stage, msg)
	}
	return tw.Flush()
}

func printList(w io.Writer, list []starter.Summary) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "No orders.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tSTAGE\tAWS ACCOUNT\tSUBSCRIPTION\tUNLINK DUE BY\tREOPEN DEADLINE\tSTARTED")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.OrderID, s.Stage, s.AccountID, s.SubscriptionID,
			orDash(s.UnlinkDueBy), orDash(s.ReopenDeadline), s.StartedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func orDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *ctl) messagesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "messages ORDER_ID",
		Short: "Show the status messages as the order details page reads them from the status store",
		Args:  exactlyOneOrderID,
		RunE: func(cmd *cobra.Command, args []string) error {
			msgs, err := a.readMessages(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(msgs) == 0 {
				return fmt.Errorf("%w: the status store has no messages for order %s", starter.ErrOrderNotFound, args[0])
			}
			latest := msgs[len(msgs)-1]
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Latest status message (order status %s):\n  %s\n\nAll messages\n", latest.OrderStatus, latest.Text)
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			for _, m := range msgs {
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", m.Seq, order.FormatTime(m.OccurredAt), m.Stage, m.Text)
			}
			return tw.Flush()
		},
	}
}

func (a *ctl) readMessages(ctx context.Context, orderID string) ([]store.Message, error) {
	st, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Timeline(ctx, orderID)
}

// openStore opens the status store (store.dsn) to read it.
// store.connect_timeout bounds the open on its own, so that a store that
// does not answer leaves the rest of the command's --timeout to what comes
// after (statuses from the workflows).
func (a *ctl) openStore(ctx context.Context) (*store.Store, error) {
	dsn := a.app.Config.StoreDSN
	// Reading must not create an empty store where none is: say where we looked.
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, usageError{fmt.Errorf("no status store at %s (store.dsn); run this where the worker runs, or pass --store-dsn", path)}
		}
	}
	return store.Open(ctx, dsn, store.WithConnectTimeout(a.app.Config.Store.ConnectTimeout))
}

func (a *ctl) accountCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "account ACCOUNT_ID",
		Short:   "Show where an AWS account stands with termination orders, and the orders that held it, from the status store",
		Example: "  terminationctl account 123456789012\n  terminationctl account 123456789012 --json",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("expected one ACCOUNT_ID argument, got %d", len(args))}
			}
			return starter.CheckAccountID(args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			acc, err := st.Account(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), acc)
			}
			return printAccount(cmd.OutOrStdout(), acc)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the account as GET /v1/accounts/{accountId} answers it")
	return cmd
}

func printAccount(w io.Writer, acc order.Account) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "AWS account\t%s\n", acc.AccountID)
	switch h := acc.Holder; acc.State {
	case order.AccountInTermination:
		fmt.Fprintf(tw, "State\t%s by order %s (subscription %s, stage %s) since %s\n",
			acc.State, h.OrderID, h.SubscriptionID, h.Stage, order.FormatTime(h.ClaimedAt))
	case order.AccountClosedForGood:
		fmt.Fprintf(tw, "State\t%s on %s by order %s (subscription %s): no order can terminate it again\n",
			acc.State, order.FormatTime(h.EndedAt), h.OrderID, h.SubscriptionID)
	default:
		fmt.Fprintf(tw, "State\t%s: no order holds it; a new order may be placed\n", acc.State)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(acc.Orders) == 0 {
		_, err := fmt.Fprintln(w, "\nNo order has held it.")
		return err
	}
	fmt.Fprintln(w, "\nOrders, newest first")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDER\tSUBSCRIPTION\tSTAGE\tCLAIMED\tENDED")
	for _, c := range acc.Orders {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.OrderID, c.SubscriptionID, c.Stage,
			c.ClaimedAt.UTC().Format(time.RFC3339), orDash(c.EndedAt))
	}
	return tw.Flush()
}
