// Moodwing's Azure side: Application Insights (workspace-based), the rejection alert and its
// action group, the feedback API on Container Apps (1 to 3 replicas) with its store in Azure
// Database for PostgreSQL (Flexible Server, reachable only from the apps' virtual network), the
// team's MLflow tracking server (runs and registry in the same server, artifacts in Blob Storage),
// the container registry, and the static site for the web page. See infra/README.md.
targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Prefix of every resource name (letters and digits, 3 to 11 characters).')
@minLength(3)
@maxLength(11)
param prefix string = 'moodwing'

@description('Who is e-mailed when rejections pile up.')
param alertEmail string

@description('The cloud-api image; the deploy workflow rolls the app to each new tag.')
param cloudApiImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@description('Region of the static site (Static Web Apps exists in fewer regions).')
param siteLocation string = 'westeurope'

@description('Origins allowed to call the feedback API besides the static site, comma-separated.')
param extraAllowedOrigins string = ''

@description('Rejections within the window that fire the alert (the same rule the cloud-api evaluates locally).')
param rejectionThreshold int = 3

@secure()
@minLength(32)
@description('The key the edge components sign predictions with (their Spin variable signing_key); feedback is accepted only about predictions it verifies.')
param signingKey string

@secure()
@description('During a key rotation, the previous signing key, still accepted; empty otherwise.')
param previousSigningKey string = ''

@secure()
@minLength(16)
@description('Password of the feedback database\'s administrator (letters and digits: it goes into a connection string).')
param databasePassword string

@secure()
@description('Bearer token of the feedback export (GET /api/feedback/export, the improvement loop); empty: the export is disabled.')
param operatorToken string = ''

@secure()
@minLength(16)
@description('Password of the MLflow server\'s admin user (basic-auth), set when its user store is created.')
param mlflowAdminPassword string

@secure()
@minLength(32)
@description('Key that signs the MLflow UI\'s CSRF tokens.')
param mlflowSecretKey string

@description('The MLflow server image (infra/mlflow/Dockerfile); the deploy workflow rolls the app to each new tag.')
param mlflowImage string = 'mcr.microsoft.com/k8se/quickstart:latest'

@description('Most replicas of the feedback API; they share the PostgreSQL store and its outbox.')
@minValue(1)
param cloudApiMaxReplicas int = 3

var unique = uniqueString(resourceGroup().id)

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${prefix}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${prefix}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${prefix}-on-call'
  location: 'global'
  properties: {
    groupShortName: 'moodwing'
    enabled: true
    emailReceivers: [
      {
        name: 'on-call'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Every minute, count the rejections of the last five minutes: 3 or more fire the alert.
resource rejectionAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${prefix}-rejections-pile-up'
  location: location
  properties: {
    displayName: 'Moodwing: predictions rejected by users are piling up'
    description: '${rejectionThreshold} or more prediction_rejected events in 5 minutes: look at the rejected tweets (customEvents) and the model version.'
    severity: 2
    enabled: true
    scopes: [ appInsights.id ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      allOf: [
        {
          // One row per feedback: the outbox delivers at least once, so a replica killed mid-send
          // may send a batch again; counting distinct feedback ids keeps the rule exact.
          query: 'customEvents | where name == "prediction_rejected" | summarize arg_max(timestamp, *) by feedback_id = tostring(customDimensions.feedback_id)'
          timeAggregation: 'Count'
          operator: 'GreaterThanOrEqual'
          threshold: rejectionThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [ actionGroup.id ]
    }
  }
}

// `moodwing radar --report-to` sends each new bad-buzz suspicion through the cloud-api's outbox.
resource badBuzzAlert 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: '${prefix}-bad-buzz-suspected'
  location: location
  properties: {
    displayName: 'Moodwing: bad buzz suspected by the radar'
    description: 'The radar flagged a window whose negative tweets jumped above their baseline: read its most negative tweets (customEvents, bad_buzz_suspected) and the workbook.'
    severity: 1
    enabled: true
    scopes: [ appInsights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customEvents | where name == "bad_buzz_suspected" | summarize arg_max(timestamp, *) by suspicion_id = tostring(customDimensions.suspicion_id)'
          timeAggregation: 'Count'
          operator: 'GreaterThanOrEqual'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [ actionGroup.id ]
    }
  }
}

// The cloud twin of the SPA's /monitor page: rejections and rejection rate per model version and
// hour, the newest rejections, the radar's suspicions (infra/workbook.json).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, '${prefix}-monitor-workbook')
  location: location
  kind: 'shared'
  properties: {
    displayName: 'Moodwing monitor'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('workbook.json')
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: '${prefix}${unique}'
  location: location
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
  }
}

resource pullIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${prefix}-cloud-api'
  location: location
}

var acrPullRole = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '7f951dda-4ed3-4680-a7ca-43fe172d538d')

resource pullRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, pullIdentity.id, acrPullRole)
  scope: registry
  properties: {
    roleDefinitionId: acrPullRole
    principalId: pullIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The apps' private network: the Container Apps environment in one subnet, the database in another
// (delegated to it, reachable only from inside, names resolved by a private DNS zone).
resource network 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: '${prefix}-vnet'
  location: location
  properties: {
    addressSpace: { addressPrefixes: [ '10.40.0.0/16' ] }
    subnets: [
      {
        name: 'apps'
        properties: {
          addressPrefix: '10.40.0.0/23'
          delegations: [ { name: 'apps', properties: { serviceName: 'Microsoft.App/environments' } } ]
          // The MLflow server reaches its artifacts' storage account through the Azure backbone.
          serviceEndpoints: [ { service: 'Microsoft.Storage' } ]
        }
      }
      {
        name: 'database'
        properties: {
          addressPrefix: '10.40.2.0/28'
          delegations: [ { name: 'database', properties: { serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers' } } ]
        }
      }
    ]
  }
}

resource databaseDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: '${prefix}.private.postgres.database.azure.com'
  location: 'global'
}

resource databaseDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: databaseDns
  name: '${prefix}-vnet'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: network.id }
  }
}

// The feedback store, shared by every replica of the feedback API, and the MLflow server's store.
// Private access only (no public endpoint, no firewall rule); TLS required. Geo-redundant backups:
// the feedback is the product's monitoring record.
resource database 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: '${prefix}-db-${take(unique, 8)}'
  location: location
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: 'moodwing'
    administratorLoginPassword: databasePassword
    storage: { storageSizeGB: 32, autoGrow: 'Enabled' }
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Enabled' }
    highAvailability: { mode: 'Disabled' }
    network: {
      publicNetworkAccess: 'Disabled'
      delegatedSubnetResourceId: network.properties.subnets[1].id
      privateDnsZoneArmResourceId: databaseDns.id
    }
  }
  dependsOn: [ databaseDnsLink ]
}

resource databaseTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: database
  name: 'require_secure_transport'
  properties: { value: 'on', source: 'user-override' }
}

resource feedbackDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: database
  name: 'moodwing'
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// MLflow's runs and model registry, and its users and permissions (basic-auth).
resource mlflowDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: database
  name: 'mlflow'
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

resource mlflowAuthDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: database
  name: 'mlflow_auth'
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

var databaseUrl = 'host=${database.properties.fullyQualifiedDomainName} port=5432 dbname=${feedbackDatabase.name} user=moodwing password=${databasePassword} sslmode=require'
var databaseRoot = 'postgresql://moodwing:${uriComponent(databasePassword)}@${database.properties.fullyQualifiedDomainName}:5432'

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: '${prefix}-env'
  location: location
  properties: {
    vnetConfiguration: {
      infrastructureSubnetId: network.properties.subnets[0].id
      internal: false
    }
    workloadProfiles: [ { name: 'Consumption', workloadProfileType: 'Consumption' } ]
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
  }
}

var siteOrigin = 'https://${site.properties.defaultHostname}'
var allowedOrigins = empty(extraAllowedOrigins) ? siteOrigin : '${siteOrigin},${extraAllowedOrigins}'

resource cloudApi 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${prefix}-cloud-api'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${pullIdentity.id}': {} }
  }
  properties: {
    managedEnvironmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: true
        targetPort: 8081
        transport: 'http'
        allowInsecure: false
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: pullIdentity.id
        }
      ]
      secrets: concat([
        {
          name: 'appinsights-connection-string'
          value: appInsights.properties.ConnectionString
        }
        { name: 'signing-key', value: signingKey }
        { name: 'database-url', value: databaseUrl }
      ], empty(previousSigningKey) ? [] : [
        { name: 'signing-key-previous', value: previousSigningKey }
      ], empty(operatorToken) ? [] : [
        { name: 'operator-token', value: operatorToken }
      ])
    }
    template: {
      containers: [
        {
          name: 'cloud-api'
          image: cloudApiImage
          resources: { cpu: json('0.25'), memory: '0.5Gi' }
          env: concat([
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', secretRef: 'appinsights-connection-string' }
            { name: 'MOODWING_ALLOWED_ORIGINS', value: allowedOrigins }
            { name: 'MOODWING_ALERT_THRESHOLD', value: string(rejectionThreshold) }
            { name: 'MOODWING_DATABASE_URL', secretRef: 'database-url' }
            { name: 'MOODWING_SIGNING_KEY', secretRef: 'signing-key' }
            // Container Apps' ingress (Envoy) appends the caller's address: rate limits are per caller.
            { name: 'MOODWING_CLIENT_IP_HEADER', value: 'x-forwarded-for' }
          ], empty(previousSigningKey) ? [] : [
            { name: 'MOODWING_SIGNING_KEY_PREVIOUS', secretRef: 'signing-key-previous' }
          ], empty(operatorToken) ? [] : [
            { name: 'MOODWING_OPERATOR_TOKEN', secretRef: 'operator-token' }
          ])
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/api/health', port: 8081 }
              periodSeconds: 30
            }
          ]
        }
      ]
      // Replicas share the PostgreSQL store; each claims the outbox rows it exports.
      scale: {
        minReplicas: 1
        maxReplicas: cloudApiMaxReplicas
        rules: [
          { name: 'http', http: { metadata: { concurrentRequests: '50' } } }
        ]
      }
    }
  }
  dependsOn: [ pullRole ]
}

// The team's MLflow tracking server (infra/mlflow): artifacts proxied to a private blob container,
// reached with its own managed identity (no storage key anywhere); users sign in (basic-auth).
resource mlflowIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${prefix}-mlflow'
  location: location
}

resource mlflowPullRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, mlflowIdentity.id, acrPullRole)
  scope: registry
  properties: {
    roleDefinitionId: acrPullRole
    principalId: mlflowIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource artifacts 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is computed (lower-case letters and digits, at most 23: the prefix has at most 11), which checkov cannot evaluate
  name: toLower('${prefix}ml${take(unique, 10)}')
  location: location
  sku: { name: 'Standard_GRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [ { id: network.properties.subnets[0].id, action: 'Allow' } ]
    }
  }
}

// Versioning and soft delete: an overwritten or deleted model file can be brought back for 30 days.
resource artifactsBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: artifacts
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: { enabled: true, days: 30 }
    containerDeleteRetentionPolicy: { enabled: true, days: 30 }
  }
}

resource artifactsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: artifactsBlobs
  name: 'mlflow'
  properties: { publicAccess: 'None' }
}

var blobDataContributor = subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')

resource mlflowBlobRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(artifacts.id, mlflowIdentity.id, blobDataContributor)
  scope: artifacts
  properties: {
    roleDefinitionId: blobDataContributor
    principalId: mlflowIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource mlflow 'Microsoft.App/containerApps@2024-03-01' = {
  name: '${prefix}-mlflow'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${mlflowIdentity.id}': {} }
  }
  properties: {
    managedEnvironmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      ingress: {
        external: true
        targetPort: 5000
        transport: 'http'
        allowInsecure: false
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: mlflowIdentity.id
        }
      ]
      secrets: [
        { name: 'backend-store-uri', value: '${databaseRoot}/${mlflowDatabase.name}?sslmode=require' }
        { name: 'auth-database-uri', value: '${databaseRoot}/${mlflowAuthDatabase.name}?sslmode=require' }
        { name: 'admin-password', value: mlflowAdminPassword }
        { name: 'secret-key', value: mlflowSecretKey }
      ]
    }
    template: {
      containers: [
        {
          name: 'mlflow'
          image: mlflowImage
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: [
            { name: 'MLFLOW_BACKEND_STORE_URI', secretRef: 'backend-store-uri' }
            { name: 'MLFLOW_AUTH_DATABASE_URI', secretRef: 'auth-database-uri' }
            { name: 'MLFLOW_AUTH_ADMIN_PASSWORD', secretRef: 'admin-password' }
            { name: 'MLFLOW_FLASK_SERVER_SECRET_KEY', secretRef: 'secret-key' }
            { name: 'MLFLOW_ARTIFACTS_DESTINATION', value: 'wasbs://${artifactsContainer.name}@${artifacts.name}.blob.${environment().suffixes.storage}/artifacts' }
            { name: 'AZURE_CLIENT_ID', value: mlflowIdentity.properties.clientId }
            { name: 'MLFLOW_ALLOWED_HOSTS', value: '${prefix}-mlflow.${environment.properties.defaultDomain}' }
          ]
          probes: [
            {
              type: 'Liveness'
              httpGet: { path: '/health', port: 5000 }
              periodSeconds: 30
            }
          ]
        }
      ]
      // One replica: basic-auth's first start creates the admin user, and runs are few.
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
  dependsOn: [ mlflowPullRole, mlflowBlobRole ]
}

resource site 'Microsoft.Web/staticSites@2023-12-01' = {
  name: '${prefix}-web'
  location: siteLocation
  sku: { name: 'Free', tier: 'Free' }
  properties: {}
}

output appInsightsName string = appInsights.name
output cloudApiUrl string = 'https://${cloudApi.properties.configuration.ingress.fqdn}'
output mlflowUrl string = 'https://${mlflow.properties.configuration.ingress.fqdn}'
output registryName string = registry.name
output siteUrl string = 'https://${site.properties.defaultHostname}'
