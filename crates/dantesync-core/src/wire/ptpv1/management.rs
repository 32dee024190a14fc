use super::bytes::{array_at, gather, i16_at, put, put_scattered, u16_at};
use super::error::ParseError;
use super::uuid::Uuid;

/// Length of a Management message without its parameters, header included.
pub const MANAGEMENT_LEN: usize = 60;

const TARGET_COMMUNICATION_TECHNOLOGY: usize = 41;
const TARGET_UUID: usize = 42;
const TARGET_PORT_ID: usize = 48;
const STARTING_BOUNDARY_HOPS: usize = 50;
const BOUNDARY_HOPS: usize = 52;
const MANAGEMENT_MESSAGE_KEY: usize = 55;
const PARAMETER_LENGTH: usize = 58;

/// The body of a Management message (bytes 40..): the management header of IEEE 1588-2002
/// and its parameters, which stay raw because nothing in dantesync acts on them (Dante does
/// not use Management; this exists so such a datagram is recognised rather than rejected).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct ManagementBody {
    pub target_communication_technology: u8,
    pub target_uuid: Uuid,
    pub target_port_id: u16,
    pub starting_boundary_hops: i16,
    pub boundary_hops: i16,
    /// Which operation or data set this is (0 = NULL, 1 = OBTAIN_IDENTITY, ... 27 = SET_TIME).
    pub management_message_key: u8,
    /// The length the sender declared for `parameters`, written back as is. It need not match
    /// `parameters.len()`: ptpd 1.1.0, for one, declares 90 bytes for PARENT_DATA_SET and
    /// sends 88.
    pub parameter_length: u16,
    /// The bytes at [`ManagementBody::RESERVED_OFFSETS`], in that order.
    pub reserved: [u8; 4],
    /// Every byte after byte 59: the parameters and anything a sender appended. See
    /// [`ManagementBody::declared_parameters`] for the part `parameter_length` covers.
    pub parameters: Vec<u8>,
}

impl ManagementBody {
    pub const RESERVED_OFFSETS: [usize; 4] = [40, 54, 56, 57];

    /// The parameters as far as `parameter_length` and the datagram both reach.
    pub fn declared_parameters(&self) -> &[u8] {
        let declared = usize::from(self.parameter_length).min(self.parameters.len());
        &self.parameters[..declared]
    }

    pub(super) fn parse(buf: &[u8]) -> Result<ManagementBody, ParseError> {
        if buf.len() < MANAGEMENT_LEN {
            return Err(ParseError::TooShort {
                needed: MANAGEMENT_LEN,
                got: buf.len(),
            });
        }
        Ok(ManagementBody {
            target_communication_technology: buf[TARGET_COMMUNICATION_TECHNOLOGY],
            target_uuid: Uuid(array_at(buf, TARGET_UUID)),
            target_port_id: u16_at(buf, TARGET_PORT_ID),
            starting_boundary_hops: i16_at(buf, STARTING_BOUNDARY_HOPS),
            boundary_hops: i16_at(buf, BOUNDARY_HOPS),
            management_message_key: buf[MANAGEMENT_MESSAGE_KEY],
            parameter_length: u16_at(buf, PARAMETER_LENGTH),
            reserved: gather(buf, &Self::RESERVED_OFFSETS),
            parameters: buf[MANAGEMENT_LEN..].to_vec(),
        })
    }

    pub(super) fn encoded_len(&self) -> usize {
        MANAGEMENT_LEN + self.parameters.len()
    }

    /// Writes bytes 40.. of the message; `out` holds exactly [`ManagementBody::encoded_len`]
    /// bytes.
    pub(super) fn write(&self, out: &mut [u8]) {
        out[TARGET_COMMUNICATION_TECHNOLOGY] = self.target_communication_technology;
        put(out, TARGET_UUID, &self.target_uuid.0);
        put(out, TARGET_PORT_ID, &self.target_port_id.to_be_bytes());
        put(
            out,
            STARTING_BOUNDARY_HOPS,
            &self.starting_boundary_hops.to_be_bytes(),
        );
        put(out, BOUNDARY_HOPS, &self.boundary_hops.to_be_bytes());
        out[MANAGEMENT_MESSAGE_KEY] = self.management_message_key;
        put(out, PARAMETER_LENGTH, &self.parameter_length.to_be_bytes());
        put_scattered(out, &Self::RESERVED_OFFSETS, &self.reserved);
        put(out, MANAGEMENT_LEN, &self.parameters);
    }
}
