//! `shopguard directory`: the security organisation's members, external contacts and
//! escalation chains, on a running server (`/v1/directory`).

use anyhow::Result;
use clap::Subcommand;
use hyper::Method;
use serde_json::json;
use shopguard_api_types::{
    DirectoryMember, DirectoryMemberList, EscalationChain, ExternalContactList,
    ExternalContactType, GroupRole, ResponseGroup,
};

use crate::client::{ApiClient, ServerArgs};

#[derive(Subcommand)]
pub enum DirectoryCommand {
    /// List the members of the four response groups (contacts masked).
    Members {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a member to a group.
    Add {
        /// The name shown.
        #[arg(long)]
        name: String,
        /// leadership, response, legal or user_communication.
        #[arg(long)]
        group: ResponseGroup,
        /// leader, deputy or member.
        #[arg(long, default_value = "member")]
        role: GroupRole,
        /// Their backup's member id.
        #[arg(long)]
        backup: Option<String>,
        /// Their operator account.
        #[arg(long)]
        operator: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// IM handle.
        #[arg(long)]
        im: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Offboard a member (kept for history).
    Deactivate {
        /// Member id.
        id: String,
        /// The member's version as listed.
        #[arg(long)]
        version: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List external contacts (contacts masked).
    Contacts {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add an external contact.
    AddContact {
        /// contracted_support, peer_security_team, law_enforcement, emergency_response_org,
        /// regulator, public_relations_media or security_partner.
        #[arg(long)]
        kind: ExternalContactType,
        /// The organisation.
        #[arg(long)]
        organisation: String,
        /// The person or desk.
        #[arg(long)]
        name: String,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number.
        #[arg(long)]
        phone: Option<String>,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show whom to escalate to for a group.
    Escalation {
        /// The group.
        group: ResponseGroup,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn print_member(member: &DirectoryMember) {
    println!(
        "{}  {:<18} {:<7} {:<24} {}{} v{}",
        member.id,
        member.group.as_str(),
        member.role.as_str(),
        member.display_name,
        member.contacts.email.as_deref().unwrap_or("-"),
        if member.active { "" } else { " (inactive)" },
        member.version
    );
}

async fn send(
    server: &ServerArgs,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> Result<bytes::Bytes> {
    let client = ApiClient::new(server)?;
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    client.call(method, path, "application/json", bytes).await
}

/// Runs a directory command.
pub async fn run(command: DirectoryCommand) -> Result<()> {
    match command {
        DirectoryCommand::Members { server } => {
            let body = send(
                &server,
                Method::GET,
                "/v1/directory/members",
                serde_json::Value::Null,
            )
            .await?;
            let list: DirectoryMemberList = serde_json::from_slice(&body)?;
            list.members.iter().for_each(print_member);
        }
        DirectoryCommand::Add {
            name,
            group,
            role,
            backup,
            operator,
            email,
            phone,
            im,
            server,
        } => {
            let request = json!({
                "display_name": name, "group": group, "role": role, "backup": backup,
                "operator": operator, "contacts": { "email": email, "phone": phone, "im": im },
            });
            let body = send(&server, Method::POST, "/v1/directory/members", request).await?;
            print_member(&serde_json::from_slice(&body)?);
        }
        DirectoryCommand::Deactivate {
            id,
            version,
            server,
        } => {
            let request = json!({ "version": version, "active": false });
            let body = send(
                &server,
                Method::PATCH,
                &format!("/v1/directory/members/{id}"),
                request,
            )
            .await?;
            print_member(&serde_json::from_slice(&body)?);
        }
        DirectoryCommand::Contacts { server } => {
            let body = send(
                &server,
                Method::GET,
                "/v1/directory/contacts",
                serde_json::Value::Null,
            )
            .await?;
            let list: ExternalContactList = serde_json::from_slice(&body)?;
            for contact in list.contacts {
                println!(
                    "{}  {:<22} {} / {}  {}{}",
                    contact.id,
                    contact.kind.as_str(),
                    contact.organisation,
                    contact.name,
                    contact.contacts.phone.as_deref().unwrap_or("-"),
                    if contact.active { "" } else { " (inactive)" }
                );
            }
        }
        DirectoryCommand::AddContact {
            kind,
            organisation,
            name,
            email,
            phone,
            notes,
            server,
        } => {
            let request = json!({
                "kind": kind, "organisation": organisation, "name": name,
                "contacts": { "email": email, "phone": phone }, "notes": notes,
            });
            let body = send(&server, Method::POST, "/v1/directory/contacts", request).await?;
            let contact: shopguard_api_types::ExternalContactView = serde_json::from_slice(&body)?;
            println!("added {} ({})", contact.id, contact.kind.as_str());
        }
        DirectoryCommand::Escalation { group, server } => {
            let body = send(
                &server,
                Method::GET,
                &format!("/v1/directory/escalation/{group}"),
                serde_json::Value::Null,
            )
            .await?;
            let chain: EscalationChain = serde_json::from_slice(&body)?;
            for (step, member) in chain.chain.iter().enumerate() {
                println!(
                    "{}. {} ({} {})",
                    step + 1,
                    member.display_name,
                    member.group.as_str(),
                    member.role.as_str()
                );
            }
            if chain.chain.is_empty() {
                println!("nobody: the {group} group and the leadership group have no active leader or deputy");
            }
        }
    }
    Ok(())
}
