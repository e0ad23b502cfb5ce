using 'main.bicep'

// Example values; the real e-mail is given at deployment time (see infra/README.md).
param prefix = 'moodwing'
param alertEmail = 'oncall@example.com'
