package emulator

// The seeded organization: the account IDs the README and the docs use for
// orders, so that a newcomer's first orders find their accounts ACTIVE.
const (
	// SeedManagementAccountID is the management account (AWS's own
	// documentation example ID): closing it answers
	// CANNOT_CLOSE_MANAGEMENT_ACCOUNT.
	SeedManagementAccountID = "111122223333"
	// SeedOrganizationID is the organization.
	SeedOrganizationID = "o-exampleorgid"
)

// SeedMemberAccountIDs are the seeded organization's member accounts, all
// ACTIVE.
var SeedMemberAccountIDs = []string{
	"123456789012", "234567890123", "345678901234", "456789012345", "567890123456",
	"678901234567", "789012345678", "890123456789", "999999999999",
}

// Seed is the configuration of the seeded organization: the management
// account SeedManagementAccountID and the ACTIVE members
// SeedMemberAccountIDs, with the other settings at their defaults.
func Seed() Config {
	cfg := Config{ManagementAccountID: SeedManagementAccountID, OrganizationID: SeedOrganizationID}
	for _, id := range SeedMemberAccountIDs {
		cfg.Accounts = append(cfg.Accounts, Account{ID: id})
	}
	return cfg
}
