"""Local accounts, API tokens and the one role-permission matrix every face enforces."""
