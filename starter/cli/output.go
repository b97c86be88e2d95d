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
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nTimeline")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range s.Timeline {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", e.Seq, order.FormatTime(e.Time), e.Stage, e.Message)
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
			msgs, err := readMessages(cmd.Context(), a.app.Config.StoreDSN, args[0])
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

func readMessages(ctx context.Context, dsn, orderID string) ([]store.Message, error) {
	// Reading must not create an empty store where none is: say where we looked.
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, usageError{fmt.Errorf("no status store at %s (store.dsn); run this where the worker runs, or pass --store-dsn", path)}
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Timeline(ctx, orderID)
}
