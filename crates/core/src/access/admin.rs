//! Managing users, vhosts and permissions: the core API the management HTTP layer
//! and the CLI call (listed in the module doc of `access`). Each change is validated,
//! written to the metadata log as a [`BrokerCommand`], then applied by
//! `apply_broker`, the one function replay calls too.

use super::command::{BrokerCommand, VHostSettings};
use super::permissions::Permission;
use super::topics::TopicPermission;
use super::users::{PasswordInput, UserInfo, UserRecord};
use crate::broker::{Broker, VHostEntry};
use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::journal::codec::MetaRecord;
use crate::names::Name;
use crate::vhost::VHost;
use std::sync::Arc;

/// One user's permissions in one vhost, as the management API lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionInfo {
    pub user: String,
    pub vhost: String,
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// One user's topic permissions on one exchange, as the management API lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPermissionInfo {
    pub user: String,
    pub vhost: String,
    pub exchange: String,
    pub write: String,
    pub read: String,
}

/// A vhost as the management API shows it (without statistics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VHostInfo {
    pub name: String,
    pub settings: VHostSettings,
}

fn no_user(name: &str) -> CoreError {
    CoreError::new(ErrorKind::NotFound, format!("no user '{name}'"))
}

fn no_vhost(name: &str) -> CoreError {
    CoreError::new(ErrorKind::NotFound, format!("no vhost '{name}'"))
}

fn check_name(what: &str, name: &str) -> CoreResult<()> {
    if name.is_empty() {
        return Err(CoreError::precondition(format!(
            "{what} name must not be empty"
        )));
    }
    if name.len() > 255 {
        return Err(CoreError::precondition(format!(
            "{what} name is longer than 255 bytes"
        )));
    }
    Ok(())
}

impl Broker {
    /// Logs `command` (when the broker has storage), then applies it.
    async fn commit_broker(&self, command: BrokerCommand) -> CoreResult<()> {
        let Some(storage) = &self.storage else {
            self.apply_broker(command);
            return Ok(());
        };
        let record = || Some(MetaRecord::Broker(command.clone()));
        storage
            .commit(record, || self.apply_broker(command.clone()))
            .await
    }

    /// Applies a validated broker command, from the API or from replay. A command
    /// that no longer fits (tags of a user deleted meanwhile) changes nothing.
    pub(crate) fn apply_broker(&self, command: BrokerCommand) {
        match command {
            BrokerCommand::AddUser {
                name,
                password,
                tags,
            } => {
                let user = UserRecord {
                    name: name.clone(),
                    password,
                    tags,
                };
                self.access.write().users.insert(name, user);
            }
            BrokerCommand::DeleteUser { name } => {
                let mut access = self.access.write();
                access.users.remove(&name);
                access.permissions.retain(|(user, _), _| *user != name);
                access
                    .topic_permissions
                    .retain(|(user, _), _| *user != name);
            }
            BrokerCommand::SetUserTags { name, tags } => {
                if let Some(user) = self.access.write().users.get_mut(&name) {
                    user.tags = tags;
                }
            }
            BrokerCommand::ChangePassword { name, password } => {
                if let Some(user) = self.access.write().users.get_mut(&name) {
                    user.password = password;
                }
            }
            BrokerCommand::AddVHost { name, settings } => {
                let mut vhosts = self.vhosts.write();
                match vhosts.get_mut(&name) {
                    Some(entry) => entry.settings = settings,
                    None => {
                        let vhost =
                            VHost::with_records(&name, self.storage.clone(), self.records.clone());
                        vhosts.insert(name, VHostEntry { vhost, settings });
                    }
                }
            }
            BrokerCommand::DeleteVHost { name } => {
                let removed = self.vhosts.write().remove(&name);
                let mut access = self.access.write();
                access.permissions.retain(|(_, vhost), _| *vhost != name);
                access
                    .topic_permissions
                    .retain(|(_, vhost), _| *vhost != name);
                drop(access);
                self.retained.forget_vhost(&name);
                if let Some(entry) = removed {
                    entry.vhost.mark_deleted();
                }
            }
            BrokerCommand::SetPermissions {
                user,
                vhost,
                permission,
            } => {
                self.access
                    .write()
                    .permissions
                    .insert((user, vhost), permission);
            }
            BrokerCommand::ClearPermissions { user, vhost } => {
                self.access.write().permissions.remove(&(user, vhost));
            }
            BrokerCommand::SetTopicPermissions {
                user,
                vhost,
                exchange,
                permission,
            } => {
                self.access
                    .write()
                    .topic_permissions
                    .entry((user, vhost))
                    .or_default()
                    .insert(exchange, permission);
            }
            BrokerCommand::ClearTopicPermissions {
                user,
                vhost,
                exchange,
            } => {
                let mut access = self.access.write();
                let key = (user, vhost);
                match exchange {
                    None => {
                        access.topic_permissions.remove(&key);
                    }
                    Some(exchange) => {
                        if let Some(set) = access.topic_permissions.get_mut(&key) {
                            set.remove(&exchange);
                            if set.is_empty() {
                                access.topic_permissions.remove(&key);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Users, vhosts and permissions as the commands that recreate them (vhosts
    /// first: permissions name them).
    pub(crate) fn access_records(&self) -> Vec<BrokerCommand> {
        let mut commands = Vec::new();
        for (name, entry) in self.vhosts.read().iter() {
            commands.push(BrokerCommand::AddVHost {
                name: name.clone(),
                settings: entry.settings.clone(),
            });
        }
        let access = self.access.read();
        for user in access.users.values() {
            commands.push(BrokerCommand::AddUser {
                name: user.name.clone(),
                password: user.password.clone(),
                tags: user.tags.clone(),
            });
        }
        for ((user, vhost), permission) in &access.permissions {
            commands.push(BrokerCommand::SetPermissions {
                user: user.clone(),
                vhost: vhost.clone(),
                permission: permission.clone(),
            });
        }
        for ((user, vhost), set) in &access.topic_permissions {
            for (exchange, permission) in set {
                commands.push(BrokerCommand::SetTopicPermissions {
                    user: user.clone(),
                    vhost: vhost.clone(),
                    exchange: exchange.clone(),
                    permission: permission.clone(),
                });
            }
        }
        commands
    }

    /// Adds a user, or replaces the one of that name (password and tags; its
    /// permissions stay). Returns whether it was created.
    pub async fn add_user(
        &self,
        name: &str,
        password: PasswordInput,
        tags: Vec<String>,
    ) -> CoreResult<bool> {
        check_name("user", name)?;
        let password = password.into_hash()?;
        let created = !self.access.read().users.contains_key(name);
        self.commit_broker(BrokerCommand::AddUser {
            name: Name::from(name),
            password,
            tags,
        })
        .await?;
        Ok(created)
    }

    /// Deletes a user and its permissions, and closes its connections with 320
    /// CONNECTION_FORCED, as RabbitMQ 3.10 does.
    pub async fn delete_user(&self, name: &str) -> CoreResult<()> {
        if !self.access.read().users.contains_key(name) {
            return Err(no_user(name));
        }
        self.commit_broker(BrokerCommand::DeleteUser {
            name: Name::from(name),
        })
        .await?;
        let text = format!("CONNECTION_FORCED - user '{name}' is deleted");
        self.close_connections_where(|c| &*c.user == name, 320, &text);
        Ok(())
    }

    pub async fn set_user_tags(&self, name: &str, tags: Vec<String>) -> CoreResult<()> {
        if !self.access.read().users.contains_key(name) {
            return Err(no_user(name));
        }
        self.commit_broker(BrokerCommand::SetUserTags {
            name: Name::from(name),
            tags,
        })
        .await
    }

    /// Sets a new password (or hash, or none). Open connections stay open.
    pub async fn change_password(&self, name: &str, password: PasswordInput) -> CoreResult<()> {
        if !self.access.read().users.contains_key(name) {
            return Err(no_user(name));
        }
        let password = password.into_hash()?;
        self.commit_broker(BrokerCommand::ChangePassword {
            name: Name::from(name),
            password,
        })
        .await
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<UserInfo> {
        let mut users: Vec<UserInfo> = self
            .access
            .read()
            .users
            .values()
            .map(UserInfo::from)
            .collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users
    }

    pub fn user(&self, name: &str) -> Option<UserInfo> {
        self.access.read().users.get(name).map(UserInfo::from)
    }

    /// Adds a vhost with the built-in exchanges, or updates an existing one's
    /// settings. Returns whether it was created. Nobody has permissions on a new
    /// vhost.
    pub async fn add_vhost(&self, name: &str, settings: VHostSettings) -> CoreResult<bool> {
        check_name("vhost", name)?;
        let created = self.vhost(name).is_none();
        self.commit_broker(BrokerCommand::AddVHost {
            name: Name::from(name),
            settings,
        })
        .await?;
        Ok(created)
    }

    /// Deletes a vhost: closes its connections (320 CONNECTION_FORCED, RabbitMQ's
    /// text), deletes its queues as `queue.delete` does (their stored messages go),
    /// then the vhost with its exchanges, bindings and permissions.
    pub async fn delete_vhost(&self, name: &str) -> CoreResult<()> {
        let vhost = self.vhost(name).ok_or_else(|| no_vhost(name))?;
        // From now on nobody opens it and open connections change nothing in it.
        vhost.mark_deleting();
        let text = format!("CONNECTION_FORCED - vhost '{name}' is deleted");
        self.close_connections_where(|c| &*c.vhost == name, 320, &text);
        for queue in vhost.queues() {
            vhost.delete_queue_unchecked(&queue).await?;
        }
        self.commit_broker(BrokerCommand::DeleteVHost {
            name: Name::from(name),
        })
        .await
    }

    /// Every vhost, sorted by name.
    pub fn vhosts(&self) -> Vec<VHostInfo> {
        let mut vhosts: Vec<VHostInfo> = self
            .vhosts
            .read()
            .iter()
            .map(|(name, e)| VHostInfo {
                name: name.to_string(),
                settings: e.settings.clone(),
            })
            .collect();
        vhosts.sort_by(|a, b| a.name.cmp(&b.name));
        vhosts
    }

    pub fn vhost_info(&self, name: &str) -> Option<VHostInfo> {
        self.vhosts.read().get(name).map(|e| VHostInfo {
            name: name.to_string(),
            settings: e.settings.clone(),
        })
    }

    /// Sets a user's permissions in a vhost (replacing any). Each expression is
    /// compiled here, once; one that does not compile is refused (400).
    pub async fn set_permissions(
        &self,
        user: &str,
        vhost: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> CoreResult<()> {
        if !self.access.read().users.contains_key(user) {
            return Err(no_user(user));
        }
        if self.vhost(vhost).is_none() {
            return Err(no_vhost(vhost));
        }
        let permission = Arc::new(Permission::new(configure, write, read)?);
        self.commit_broker(BrokerCommand::SetPermissions {
            user: Name::from(user),
            vhost: Name::from(vhost),
            permission,
        })
        .await
    }

    /// Removes a user's permissions in a vhost: it can no longer open it. Open
    /// connections keep the rights they opened with, as in RabbitMQ.
    pub async fn clear_permissions(&self, user: &str, vhost: &str) -> CoreResult<()> {
        let key = (Name::from(user), Name::from(vhost));
        if !self.access.read().permissions.contains_key(&key) {
            return Err(CoreError::new(
                ErrorKind::NotFound,
                format!("no permissions for user '{user}' in vhost '{vhost}'"),
            ));
        }
        self.commit_broker(BrokerCommand::ClearPermissions {
            user: key.0,
            vhost: key.1,
        })
        .await
    }

    /// Every (user, vhost) permission, sorted by vhost then user.
    pub fn permissions(&self) -> Vec<PermissionInfo> {
        let mut out: Vec<PermissionInfo> = self
            .access
            .read()
            .permissions
            .iter()
            .map(|((user, vhost), p)| PermissionInfo {
                user: user.to_string(),
                vhost: vhost.to_string(),
                configure: p.configure.as_str().to_string(),
                write: p.write.as_str().to_string(),
                read: p.read.as_str().to_string(),
            })
            .collect();
        out.sort_by(|a, b| (&a.vhost, &a.user).cmp(&(&b.vhost, &b.user)));
        out
    }

    /// Sets a user's topic permissions on one exchange of a vhost (replacing any).
    /// They restrict routing keys on topic exchanges only, as in RabbitMQ.
    pub async fn set_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        exchange: &str,
        write: &str,
        read: &str,
    ) -> CoreResult<()> {
        if !self.access.read().users.contains_key(user) {
            return Err(no_user(user));
        }
        if self.vhost(vhost).is_none() {
            return Err(no_vhost(vhost));
        }
        let permission = TopicPermission::new(write, read)?;
        self.commit_broker(BrokerCommand::SetTopicPermissions {
            user: Name::from(user),
            vhost: Name::from(vhost),
            exchange: Name::from(exchange),
            permission,
        })
        .await
    }

    /// Removes a user's topic permissions in a vhost: on one exchange, or (None) on
    /// all of them.
    pub async fn clear_topic_permissions(
        &self,
        user: &str,
        vhost: &str,
        exchange: Option<&str>,
    ) -> CoreResult<()> {
        let key = (Name::from(user), Name::from(vhost));
        let exists = self
            .access
            .read()
            .topic_permissions
            .get(&key)
            .is_some_and(|set| exchange.is_none_or(|x| set.contains_key(x)));
        if !exists {
            return Err(CoreError::new(
                ErrorKind::NotFound,
                format!("no topic permissions for user '{user}' in vhost '{vhost}'"),
            ));
        }
        self.commit_broker(BrokerCommand::ClearTopicPermissions {
            user: key.0,
            vhost: key.1,
            exchange: exchange.map(Name::from),
        })
        .await
    }

    /// Every topic permission, sorted by vhost, user, exchange.
    pub fn topic_permissions(&self) -> Vec<TopicPermissionInfo> {
        let access = self.access.read();
        let mut out: Vec<TopicPermissionInfo> = access
            .topic_permissions
            .iter()
            .flat_map(|((user, vhost), set)| {
                set.iter().map(move |(exchange, p)| TopicPermissionInfo {
                    user: user.to_string(),
                    vhost: vhost.to_string(),
                    exchange: exchange.to_string(),
                    write: p.write.clone(),
                    read: p.read.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.vhost, &a.user, &a.exchange).cmp(&(&b.vhost, &b.user, &b.exchange)));
        out
    }
}
